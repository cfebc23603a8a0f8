# The tiny distillation as ViTKD + NKD (the ViTKDDistiller preset), for the
# distributed tests (tests/test_tools/test_distributed.py): the teacher's
# neck has BatchNorm (its statistics must stay those of its checkpoint), the
# student has no drop path, so a step depends only on the batch and the
# generation masks; each rank writes its weights
# (tests/dist_utils.py::RankStateHook).
# No sync_bn: DDP refuses SyncBatchNorm layers on CPU.
_base_ = ['./tiny_vit_distill.py']

custom_imports = dict(
    imports=['vitkd_mm', 'tests.dist_utils'], allow_failed_imports=False)

model = dict(
    architecture=dict(backbone=dict(drop_path_rate=0.0)),
    teacher=dict(
        neck=dict(
            _delete_=True, type='LinearNeck', in_channels=24, out_channels=24),
        head=dict(
            _delete_=True,
            type='LinearClsHead',
            num_classes={{_base_.num_classes}},
            in_channels=24)),
    distiller=dict(
        _delete_=True,
        type='ViTKDDistiller',
        patch_resolution=4,
        nkd=dict(temperature=1.0, gamma=1.0)))
train_cfg = dict(max_epochs=1, val_interval=100)
custom_hooks = [
    dict(type='vitkd_mm.DistillerResumeCheckHook'),
    dict(type='RankStateHook')
]
