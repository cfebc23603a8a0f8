# ViTKD: DeiT-Tiny student <- DeiT III-Small teacher (ImageNet-21k
# pre-trained, ImageNet-1k fine-tuned), ImageNet-1k, 300 epochs, 224 px.
# Data, schedule and runtime are mmpretrain's DeiT-Tiny recipe (batch 1024,
# AdamW 1e-3, 20 warm-up epochs, cosine, RandAugment, RandomErasing,
# label smoothing 0.1, Mixup/CutMix applied once to the shared batch).
# This config spells out the MMRazor vocabulary; `ViTKDDistiller` builds the
# same thing in four lines (see deit-s_vitkd.py).
_base_ = ['mmpretrain::deit/deit-tiny_4xb256_in1k.py']

custom_imports = dict(imports=['vitkd_mm'], allow_failed_imports=False)

student_dims = 192  # DeiT-Tiny
teacher_dims = 384  # DeiT III-Small
patch_resolution = (14, 14)  # 224 px / 16 px patches
teacher_ckpt = 'https://download.openmmlab.com/mmclassification/v0/deit3/deit3-small-p16_in21k-pre_3rdparty_in1k_20221009-dcd90827.pth'  # noqa: E501


def tokens(recorder, from_student, connector, connector_idx=None):
    entry = dict(
        recorder=recorder, from_student=from_student, connector=connector)
    if connector_idx is not None:
        entry['connector_idx'] = connector_idx
    return entry


model = dict(
    _delete_=True,
    type='vitkd_mm.SingleTeacherDistill',
    architecture={{_base_.model}},
    teacher=dict(
        type='ImageClassifier',
        backbone=dict(type='DeiT3', arch='s', img_size=224, patch_size=16),
        neck=None,
        head=dict(
            type='VisionTransformerClsHead',
            num_classes=1000,
            in_channels=teacher_dims)),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='ConfigurableDistiller',
        # blocks 0 and 1 (shallow, FFN-out) and the last block after the
        # final LayerNorm (deep), same indices on both sides
        student_recorders=dict(
            block0=dict(type='ModuleOutputs', source='backbone.layers.0'),
            block1=dict(type='ModuleOutputs', source='backbone.layers.1'),
            deep=dict(type='ModuleOutputs', source='backbone.ln1')),
        teacher_recorders=dict(
            block0=dict(type='ModuleOutputs', source='backbone.layers.0'),
            block1=dict(type='ModuleOutputs', source='backbone.layers.1'),
            deep=dict(type='ModuleOutputs', source='backbone.ln1')),
        connectors=dict(
            mimic0=dict(
                type='MimicConnector',
                student_dims=student_dims,
                teacher_dims=teacher_dims),
            mimic1=dict(
                type='MimicConnector',
                student_dims=student_dims,
                teacher_dims=teacher_dims),
            generation=dict(
                type='GenerationConnector',
                student_dims=student_dims,
                teacher_dims=teacher_dims,
                mask_ratio=0.5,
                generator='conv',
                patch_resolution=patch_resolution),
            # the teacher's patch tokens (cls token dropped), no parameters
            patch_tokens=dict(type='DropExtraTokens', num_extra_tokens=1)),
        distill_losses=dict(
            loss_mimic_0=dict(type='MimicLoss', loss_weight=3e-5),
            loss_mimic_1=dict(type='MimicLoss', loss_weight=3e-5),
            loss_gen=dict(
                type='GenerationLoss', loss_weight=3e-6, mask_ratio=0.5)),
        loss_forward_mappings=dict(
            loss_mimic_0=dict(
                preds_S=tokens('block0', True, 'mimic0'),
                preds_T=tokens('block0', False, 'patch_tokens')),
            loss_mimic_1=dict(
                preds_S=tokens('block1', True, 'mimic1'),
                preds_T=tokens('block1', False, 'patch_tokens')),
            loss_gen=dict(
                preds_S=tokens('deep', True, 'generation', 0),
                preds_T=tokens('deep', False, 'patch_tokens'),
                mask=tokens('deep', True, 'generation', 1)))))

# Validation scores the student, and the frozen teacher once per run as
# training feeds it (logged as teacher/accuracy/top1 beside the student's).
val_cfg = dict(type='vitkd_mm.SingleTeacherDistillValLoop')

# the plain student, ready for a stock mmpretrain config, at the end; and
# a --resume after a change of the distiller refused with what changed
custom_hooks = [
    dict(type='vitkd_mm.StudentExportHook'),
    dict(type='vitkd_mm.DistillerResumeCheckHook'),
]

# Token maps (PCA to RGB) of 4 fixed validation images at each validation,
# teacher next to student, in vis_data/vis_image/; off with
# --cfg-options default_hooks.token_maps.enable=False
default_hooks = dict(token_maps=dict(type='vitkd_mm.TokenMapHook'))
