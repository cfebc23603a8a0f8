# ViTKD + NKD: DeiT-Small <- DeiT III-Base.
_base_ = ['./deit-s_vitkd.py']

model = dict(distiller=dict(nkd=dict(temperature=1.0, gamma=1.0)))
