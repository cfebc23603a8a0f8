# ViTKD: DeiT-Small student <- DeiT III-Base teacher (ImageNet-21k
# pre-trained, ImageNet-1k fine-tuned), mmpretrain's DeiT-Small recipe.
_base_ = ['mmpretrain::deit/deit-small_4xb256_in1k.py']

custom_imports = dict(imports=['vitkd_mm'], allow_failed_imports=False)

teacher_ckpt = 'https://download.openmmlab.com/mmclassification/v0/deit3/deit3-base-p16_in21k-pre_3rdparty_in1k_20221009-87983ca1.pth'  # noqa: E501

model = dict(
    _delete_=True,
    type='vitkd_mm.SingleTeacherDistill',
    architecture={{_base_.model}},
    teacher=dict(
        type='ImageClassifier',
        backbone=dict(type='DeiT3', arch='b', img_size=224, patch_size=16),
        neck=None,
        head=dict(
            type='VisionTransformerClsHead', num_classes=1000,
            in_channels=768)),
    teacher_ckpt=teacher_ckpt,
    # the listing of deit-t_vitkd.py, for 384 -> 768 channels
    distiller=dict(
        type='ViTKDDistiller',
        student_dims=384,
        teacher_dims=768,
        patch_resolution=(14, 14)))

# Validation scores the student, and the frozen teacher once per run as
# training feeds it (logged as teacher/accuracy/top1 beside the student's).
val_cfg = dict(type='vitkd_mm.SingleTeacherDistillValLoop')

custom_hooks = [
    dict(type='vitkd_mm.StudentExportHook'),
    dict(type='vitkd_mm.DistillerResumeCheckHook'),
]

# Token maps (PCA to RGB) of 4 fixed validation images at each validation,
# teacher next to student, in vis_data/vis_image/; off with
# --cfg-options default_hooks.token_maps.enable=False
default_hooks = dict(token_maps=dict(type='vitkd_mm.TokenMapHook'))
