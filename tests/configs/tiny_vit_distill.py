# A tiny ViT -> ViT distillation, configured only through the MMRazor
# vocabulary, for tests. Point `data_root` at a folder made by
# tests/utils.py::make_image_folder.
_base_ = ['mmpretrain::_base_/default_runtime.py']

custom_imports = dict(imports=['vitkd_mm'], allow_failed_imports=False)

data_root = 'data'
num_classes = 3
# The Runner merges this into model.data_preprocessor, which
# SingleTeacherDistill hands to the student, as mmpretrain's bases do.
data_preprocessor = dict(
    num_classes=num_classes,
    mean=[127.5, 127.5, 127.5],
    std=[127.5, 127.5, 127.5],
    to_rgb=True)


def tiny_vit(embed_dims, num_layers):
    return dict(
        type='ImageClassifier',
        backbone=dict(
            type='VisionTransformer',
            arch=dict(
                embed_dims=embed_dims,
                num_layers=num_layers,
                num_heads=2,
                feedforward_channels=2 * embed_dims),
            img_size=32,
            patch_size=8,
            drop_path_rate=0.1),
        neck=None,
        head=dict(
            type='VisionTransformerClsHead',
            num_classes=num_classes,
            in_channels=embed_dims,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))


model = dict(
    type='vitkd_mm.SingleTeacherDistill',
    architecture=tiny_vit(16, 2),
    teacher=tiny_vit(24, 3),
    teacher_ckpt=None,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            block0=dict(type='ModuleOutputs', source='backbone.layers.0')),
        teacher_recorders=dict(
            block0=dict(type='ModuleOutputs', source='backbone.layers.0')),
        connectors=dict(
            proj=dict(type='MimicConnector', student_dims=16, teacher_dims=24),
            tokens=dict(type='DropExtraTokens')),
        distill_losses=dict(
            loss_mimic=dict(type='MimicLoss', loss_weight=1e-3)),
        loss_forward_mappings=dict(
            loss_mimic=dict(
                preds_S=dict(
                    from_student=True, recorder='block0', connector='proj'),
                preds_T=dict(
                    from_student=False, recorder='block0',
                    connector='tokens')))))

pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='CustomDataset', data_root=data_root, pipeline=pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type='CustomDataset', data_root=data_root, pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=1)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=1))
custom_hooks = [
    dict(type='vitkd_mm.StudentExportHook'),
    dict(type='vitkd_mm.DistillerResumeCheckHook'),
]
randomness = dict(seed=0)
