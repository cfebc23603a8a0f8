# NKD only: logit distillation from the 96-dim teacher (gamma 1.0, T 1.0),
# no feature losses.
_base_ = ['./vit-d48_vitkd-nkd_fashion-mnist.py']

model = dict(distiller=dict(shallow_layers=(), deep=None))
