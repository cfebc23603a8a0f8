# ViTKD: DeiT-Base student <- DeiT III-Large teacher (ImageNet-21k
# pre-trained, ImageNet-1k fine-tuned), mmpretrain's DeiT-Base recipe
# (drop path 0.1 and EMA, batch 16 x 64).
_base_ = ['mmpretrain::deit/deit-base_16xb64_in1k.py']

custom_imports = dict(imports=['vitkd_mm'], allow_failed_imports=False)

teacher_ckpt = 'https://download.openmmlab.com/mmclassification/v0/deit3/deit3-large-p16_in21k-pre_3rdparty_in1k_20221009-d8d27084.pth'  # noqa: E501

model = dict(
    _delete_=True,
    type='vitkd_mm.SingleTeacherDistill',
    architecture={{_base_.model}},
    teacher=dict(
        type='ImageClassifier',
        backbone=dict(type='DeiT3', arch='l', img_size=224, patch_size=16),
        neck=None,
        head=dict(
            type='VisionTransformerClsHead',
            num_classes=1000,
            in_channels=1024)),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='ViTKDDistiller',
        student_dims=768,
        teacher_dims=1024,
        patch_resolution=(14, 14)))

# Validation scores the student, and the frozen teacher once per run as
# training feeds it (logged as teacher/accuracy/top1 beside the student's).
val_cfg = dict(type='vitkd_mm.SingleTeacherDistillValLoop')

custom_hooks = [
    dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL'),
    dict(type='vitkd_mm.StudentExportHook'),
    dict(type='vitkd_mm.DistillerResumeCheckHook'),
]

# Token maps (PCA to RGB) of 4 fixed validation images at each validation,
# teacher next to student, in vis_data/vis_image/; off with
# --cfg-options default_hooks.token_maps.enable=False
default_hooks = dict(token_maps=dict(type='vitkd_mm.TokenMapHook'))
