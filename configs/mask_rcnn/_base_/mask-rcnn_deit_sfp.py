# Mask R-CNN with a plain DeiT backbone (mmpretrain VisionTransformer) and a
# ViTDet-style simple feature pyramid. The leaf configs set the DeiT size
# (``arch`` + neck ``in_channels``) and the backbone checkpoint.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

custom_imports = dict(imports=['vitkd_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='deit-tiny',
        img_size=224,  # pre-training size; pos_embed is resized per input
        patch_size=16,
        out_type='featmap',  # B x C x H/16 x W/16, patch tokens only
        out_indices=-1,
        final_norm=True,  # keep ln1: it is part of the distilled student
        interpolate_mode='bicubic',
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=None, prefix='backbone.')),
    neck=dict(
        _delete_=True,
        type='vitkd_mm.SimpleFeaturePyramid',
        in_channels=192,
        out_channels=256,
        num_outs=5,
        norm_cfg=dict(type='mmpretrain.LN2d', eps=1e-6)))
