# ViTKD during detection fine-tuning (beyond the paper, which distils on
# ImageNet only): a fine-tuned DeiT-S Mask R-CNN teaches the DeiT-T Mask
# R-CNN of ./mask-rcnn_deit-t-vitkd_sfp_1x_coco.py (backbone started from the
# ImageNet ViTKD student) while it fine-tunes on COCO. Only the backbones are
# distilled, as on ImageNet: shallow mimicking of blocks 0 and 1, deep
# generation after the final LayerNorm, patch tokens only, with the
# ViTKDDistiller preset of the ImageNet configs.
# The teacher runs under no_grad in eval mode and stops after its backbone's
# ln1 (no neck, RPN or RoI head). Data, schedule, optimizer: the student
# config's (1x, 16 images per batch); logged losses: student.loss_* and
# distill.loss_mimic_0 / _1, distill.loss_gen.
_base_ = './mask-rcnn_deit-t-vitkd_sfp_1x_coco.py'

custom_imports = dict(imports=['vitkd_mm'], allow_failed_imports=False)

# A DeiT-S Mask R-CNN already fine-tuned on COCO: the last checkpoint of
# mask-rcnn_deit-s_sfp_1x_coco.py (or of its -vitkd twin), e.g.
#   cp work_dirs/mask-rcnn_deit-s_sfp_1x_coco/epoch_12.pth \
#      checkpoints/mask-rcnn_deit-s_sfp_1x_coco.pth
# The whole detector is loaded (strictly), though only its backbone runs.
# An ImageNet DeiT-S classifier checkpoint loads with
# model.teacher_ckpt_strict=False (its backbone.* keys match; the warning
# lists the neck and heads as missing), but its tokens were not trained for
# detection; the two teachers have not been compared.
teacher_ckpt = 'checkpoints/mask-rcnn_deit-s_sfp_1x_coco.pth'

# The DeiT-S Mask R-CNN of mask-rcnn_deit-s_sfp_1x_coco.py: the student's
# detector with the small backbone. Its weights all come from teacher_ckpt.
teacher = dict(
    _base_.model,
    backbone=dict(_base_.model.backbone, arch='deit-small', init_cfg=None),
    neck=dict(_base_.model.neck, in_channels=384))  # DeiT-S tokens

# The preset reads the dims (192 / 384), extra tokens and deep features
# from the two backbones, and each side's token grid of the current batch
# from its patch embedding: detection inputs are padded batches whose
# non-square grids change from batch to batch, e.g. (50, 84) for 800 x 1344.
# The paper's alpha = 3e-5 and beta = 3e-6, not tuned for detection. Both
# losses sum over tokens (per image), so at 1333 x 800 (a 50 x 84 grid,
# about 21x the 196 tokens of ImageNet) each token gets the gradient it got
# on ImageNet, but the terms weigh about 21x more against the detector's
# mean-reduced losses. To keep the ImageNet balance instead, divide both
# weights by about 20 (--cfg-options model.distiller.mimic_weight=1.5e-6
# model.distiller.generation_weight=1.5e-7).
model = dict(
    _delete_=True,
    type='vitkd_mm.SingleTeacherDistill',
    architecture={{_base_.model}},
    teacher=teacher,
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='ViTKDDistiller', mimic_weight=3e-5, generation_weight=3e-6))

# the student alone (a plain Mask R-CNN checkpoint for
# mask-rcnn_deit-t-vitkd_sfp_1x_coco.py) is written at the end
custom_hooks = [
    dict(type='vitkd_mm.StudentExportHook'),
    dict(type='vitkd_mm.DistillerResumeCheckHook'),
]
