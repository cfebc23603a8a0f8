# Baseline: the backbone starts from mmpretrain's deit-base_16xb64_in1k.
_base_ = [
    './_base_/mask-rcnn_deit_sfp.py', './_base_/adamw_1x_coco-instance.py'
]

custom_imports = dict(imports=['vitkd_mm'], allow_failed_imports=False)

checkpoint = 'https://download.openmmlab.com/mmclassification/v0/deit/deit-base_pt-16xb64_in1k_20220216-db63c16c.pth'  # noqa
model = dict(
    backbone=dict(arch='deit-base', init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=768))
