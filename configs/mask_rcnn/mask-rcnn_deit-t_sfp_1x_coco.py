# Baseline: the backbone starts from mmpretrain's deit-tiny_4xb256_in1k.
_base_ = [
    './_base_/mask-rcnn_deit_sfp.py', './_base_/adamw_1x_coco-instance.py'
]

custom_imports = dict(imports=['vitkd_mm'], allow_failed_imports=False)

checkpoint = 'https://download.openmmlab.com/mmclassification/v0/deit/deit-tiny_pt-4xb256_in1k_20220218-13b382a0.pth'  # noqa
model = dict(
    backbone=dict(arch='deit-tiny', init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=192))
