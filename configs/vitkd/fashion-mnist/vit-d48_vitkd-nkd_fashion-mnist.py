# ViTKD + NKD: ViTKD's feature losses plus NKD on the logits (gamma 1.0 and
# T 1.0, as the paper's DeiT configs). The student keeps its own
# label-smoothed cross-entropy at full weight.
_base_ = ['./vit-d48_vitkd_fashion-mnist.py']

model = dict(
    distiller=dict(nkd=dict(temperature=1.0, gamma=1.0, loss_weight=1.0)))
