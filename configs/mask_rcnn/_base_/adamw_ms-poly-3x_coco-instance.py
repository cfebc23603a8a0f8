# COCO 2017 instance segmentation, mmdet's 3x multi-scale recipe (short side
# 640-800, polygon masks, train set repeated 3 times over 12 epochs), with
# the optimizer of adamw_1x_coco-instance.py.
_base_ = 'mmdet::common/ms-poly_3x_coco-instance.py'

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=1e-4,
        betas=(0.9, 0.999),
        weight_decay=0.1),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        custom_keys={
            'backbone.pos_embed': dict(decay_mult=0.0),
            'backbone.cls_token': dict(decay_mult=0.0)
        }))
