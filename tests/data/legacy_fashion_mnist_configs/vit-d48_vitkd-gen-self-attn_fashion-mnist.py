# Ablation (generator): a self-attention block instead of the conv
# generator (heads of 24 channels, as the teacher's).
_base_ = ['./vit-d48_vitkd_fashion-mnist.py']

model = dict(
    distiller=dict(
        connectors=dict(gen=dict(generator='self_attn', num_heads=4))))
