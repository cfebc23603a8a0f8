# The DeiT recipe scaled down: AdamW, no decay on norms, biases, cls_token
# and pos_embed, grad clip 5, linear warm-up (1 epoch) then cosine to 1e-5,
# label smoothing 0.1 (in the models). Batch 128, lr 1e-3.
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=1e-3, weight_decay=0.05, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
            '.mask_token': dict(decay_mult=0.0),
        }),
    clip_grad=dict(max_norm=5.0),
)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        end=1,
        convert_to_iter_based=True),
    # `end` defaults to max_epochs, so a shorter run (--cfg-options
    # train_cfg.max_epochs=N) keeps the full cosine shape; with N=1 the run
    # is the warm-up alone (CosineAnnealingLR would refuse to build).
    dict(
        type='vitkd_mm.CosineAfterWarmupLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=1,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=15, val_interval=1)
val_cfg = dict()
test_cfg = dict()
