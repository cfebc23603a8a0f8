# ViTKD across token grids: the 48-dim student (4 px patches: a 7 x 7 grid
# on 28 px) <- the 96-dim teacher with 7 px patches (a 4 x 4 grid), trained
# by vit-d96-p7_teacher_fashion-mnist.py. The teacher's patch tokens are
# resized 4 x 4 -> 7 x 7 (bilinear, align_corners=False) before the mimic
# and generation losses; the targets then have the student's N = 49 tokens
# x D_t = 96 channels, so the weights are those of vit-d48_vitkd (x 16 the
# paper's alpha and beta, see there).
_base_ = ['./vit-d48_fashion-mnist.py']

teacher_ckpt = 'checkpoints/fashion_mnist/vit-d96-p7_teacher_fashion-mnist.pth'

model = dict(
    _delete_=True,
    type='vitkd_mm.SingleTeacherDistill',
    architecture=_base_.student_model,
    teacher=dict(
        _base_.teacher_model,
        backbone=dict(_base_.teacher_model.backbone, patch_size=7)),
    teacher_ckpt=teacher_ckpt,
    # dims, extra tokens and both grids are read from the two ViTs
    distiller=dict(
        type='ViTKDDistiller',
        grid_align='bilinear',
        mimic_weight=4.8e-4,
        generation_weight=4.8e-5))

# Validation scores the student, and the frozen teacher once per run as
# training feeds it (logged as teacher/accuracy/top1 beside the student's).
val_cfg = dict(type='vitkd_mm.SingleTeacherDistillValLoop')

# Token maps (PCA to RGB) of 4 fixed validation images at each validation,
# teacher next to student, in vis_data/vis_image/; off with
# --cfg-options default_hooks.token_maps.enable=False
default_hooks = dict(token_maps=dict(type='vitkd_mm.TokenMapHook'))
