# Ablation (generator): a cross-attention block (all tokens query the
# visible student tokens) instead of the conv generator.
_base_ = ['./vit-d48_vitkd_fashion-mnist.py']

model = dict(distiller=dict(generator='cross_attn', num_heads=4))
