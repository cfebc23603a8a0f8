# ViTKD from a foundation model: DeiT-Tiny (patch 16, a 14 x 14 grid at
# 224 px) <- DINOv2-S/14 (self-supervised, headless, patch 14: a 16 x 16
# grid at 224 px), mmpretrain's DeiT-Tiny recipe.
# - Dims (192 / 384), extra tokens and both grids are read from the two
#   backbones; the teacher's patch tokens are resized 16 x 16 -> 14 x 14
#   (bilinear, align_corners=False) before the mimic and generation losses.
# - DINOv2 was trained with the ImageNet mean/std in RGB, as DeiT: the
#   teacher gets the student's batch unchanged, at 224 px.
# - Feature losses only: DINOv2 has no classification head, so NKD (which
#   needs the teacher's logits) is refused at build time.
# - The checkpoint (mmpretrain's metafile, dinov2/metafile.yml) holds a
#   37 x 37 position embedding (518 px); mmpretrain resizes it to 16 x 16
#   when it loads (logged as a warning: the teacher runs at 224 px). It
#   also holds DINOv2's backbone.mask_token (its masked-image-modelling
#   token), which mmpretrain's VisionTransformer has no parameter for: it
#   is the one key ignored, by name.
# - Headless: validation logs the teacher's k-NN top-1 of its cls token
#   (teacher/knn/accuracy/top1; val_cfg.knn sets how many training images).
# Student, recipe and StudentExportHook: those of deit-t_vitkd.py.
_base_ = ['./deit-t_vitkd.py']

teacher_ckpt = 'https://download.openmmlab.com/mmpretrain/v1.0/dinov2/vit-small-p14_dinov2-pre_3rdparty_20230426-5641ca5a.pth'  # noqa: E501

model = dict(
    teacher=dict(
        _delete_=True,
        type='ImageClassifier',
        backbone=dict(
            type='VisionTransformer',
            arch='dinov2-small',
            img_size=224,
            patch_size=14,
            layer_scale_init_value=1e-5),
        neck=None,
        head=None),
    teacher_ckpt=teacher_ckpt,
    teacher_ckpt_ignore_keys=['backbone.mask_token'],
    distiller=dict(
        _delete_=True, type='ViTKDDistiller', grid_align='bilinear'))
