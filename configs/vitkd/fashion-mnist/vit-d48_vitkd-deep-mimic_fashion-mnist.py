# Ablation (the paper's guideline 2): mimic the deep tokens directly, like
# the shallow ones, instead of generating them from masked student tokens.
_base_ = ['./vit-d48_vitkd_fashion-mnist.py']

model = dict(distiller=dict(deep='mimic'))
