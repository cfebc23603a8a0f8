# NKD only (logit distillation): DeiT-Tiny <- DeiT III-Small.
_base_ = ['./deit-t_vitkd-nkd.py']

model = dict(distiller=dict(shallow_layers=(), deep=None))
