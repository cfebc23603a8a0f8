# Ablation: deep generation only, no shallow mimicking.
_base_ = ['./vit-d48_vitkd_fashion-mnist.py']

model = dict(distiller=dict(shallow_layers=()))
