# ViTKD + NKD from EVA-02-S/14 (MIM-pretrained on ImageNet-21k, fine-tuned
# on ImageNet-1k at 336 px: 85.78 % top-1 in mmpretrain's metafile) to
# DeiT-Tiny (patch 16, 224 px), mmpretrain's DeiT-Tiny recipe.
# - The teacher runs at its own 336 px: the student's augmented batch
#   (Mixup/CutMix drawn once) is resized 224 -> 336 (bilinear) and
#   re-normalised from the ImageNet mean/std to the CLIP mean/std its
#   mmpretrain config declares (the teacher's data_preprocessor below).
#   A teacher fine-tuned at a higher resolution and run at the student's
#   loses accuracy (cls_KD #5: such a teacher made the student worse), and
#   NKD distils its logits; the price is a 24 x 24-token teacher forward.
# - Its 24 x 24 patch tokens are resized to the student's 14 x 14
#   (bilinear, align_corners=False) for the mimic and generation losses.
# - EVA-02 has no final norm: its deep feature is the output of its last
#   block (backbone.layers.11); NKD reads the logits of its LinearClsHead
#   (head.fc). Dims and extra tokens are read from the backbones.
# Student, recipe and StudentExportHook: those of deit-t_vitkd.py.
_base_ = ['./deit-t_vitkd.py']

teacher_ckpt = 'https://download.openmmlab.com/mmpretrain/v1.0/eva02/eva02-small-p14_in21k-pre_3rdparty_in1k-336px_20230505-9c5b0e85.pth'  # noqa: E501

model = dict(
    teacher=dict(
        _delete_=True,
        type='ImageClassifier',
        backbone=dict(
            type='ViTEVA02',
            arch='s',
            img_size=336,
            patch_size=14,
            final_norm=False,
            out_type='avg_featmap'),
        neck=None,
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=384),
        # what EVA-02 was trained on (mmpretrain's
        # _base_/datasets/imagenet_bs16_eva_336.py): CLIP mean/std, RGB
        data_preprocessor=dict(
            type='ClsDataPreprocessor',
            mean=[0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255],
            std=[0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255],
            to_rgb=True)),
    teacher_ckpt=teacher_ckpt,
    # mean/std/to_rgb come from the teacher's data_preprocessor
    teacher_input=dict(size=336),
    distiller=dict(
        _delete_=True,
        type='ViTKDDistiller',
        grid_align='bilinear',
        nkd=dict(temperature=1.0, gamma=1.0)))
