# ViTKD + NKD: DeiT-Base <- DeiT III-Large.
_base_ = ['./deit-b_vitkd.py']

model = dict(distiller=dict(nkd=dict(temperature=1.0, gamma=1.0)))
