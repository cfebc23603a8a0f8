# Ablation: shallow mimicking (blocks 0 and 1) only, no deep generation.
_base_ = ['./vit-d48_vitkd_fashion-mnist.py']

model = dict(distiller=dict(deep=None))
