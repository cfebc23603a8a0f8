# ViTKD + NKD on the 1,000 labelled images (100 per class) of the
# label-free split.
_base_ = [
    './vit-d48_vitkd-nkd_fashion-mnist.py',
    '_base_/fashion-mnist_label-free.py'
]

train_dataloader = dict(dataset={{_base_.labelled_1k_dataset}})
train_cfg = {{_base_.labelled_1k_train_cfg}}
