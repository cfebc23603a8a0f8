# Baseline: the backbone starts from mmpretrain's deit-small_4xb256_in1k.
_base_ = [
    './_base_/mask-rcnn_deit_sfp.py', './_base_/adamw_1x_coco-instance.py'
]

custom_imports = dict(imports=['vitkd_mm'], allow_failed_imports=False)

checkpoint = 'https://download.openmmlab.com/mmclassification/v0/deit/deit-small_pt-4xb256_in1k_20220218-9425b9bb.pth'  # noqa
model = dict(
    backbone=dict(arch='deit-small', init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=384))
