# ViTKD: the 48-dim student mimics the 96-dim teacher's blocks 0 and 1 and
# generates its deep (after the final LayerNorm) patch tokens from a 50 %
# masked copy of its own. The ablations and NKD arms override this preset.
_base_ = ['./vit-d48_fashion-mnist.py']

model = dict(
    _delete_=True,
    type='vitkd_mm.SingleTeacherDistill',
    architecture={{_base_.student_model}},
    teacher={{_base_.teacher_model}},
    # The shipped teacher (tools.fashion_mnist.run_arms passes the
    # checkpoint it uses).
    teacher_ckpt='checkpoints/fashion_mnist/vit-d96_teacher_fashion-mnist.pth',
    distiller=dict(
        type='ViTKDDistiller',
        student_dims=48,
        teacher_dims=96,
        patch_resolution=(7, 7),
        # The paper's alpha = 3e-5 and beta = 3e-6 are per sum over
        # N = 196 tokens x D_t = 384 channels; we keep the same weight per
        # element for our N = 49 x D_t = 96 tokens:
        # x (196 * 384) / (49 * 96) = x 16.
        mimic_weight=4.8e-4,
        generation_weight=4.8e-5))

# Validation scores the student, and the frozen teacher once per run as
# training feeds it (logged as teacher/accuracy/top1 beside the student's).
val_cfg = dict(type='vitkd_mm.SingleTeacherDistillValLoop')

# Token maps (PCA to RGB) of 4 fixed validation images at each validation,
# teacher next to student, in vis_data/vis_image/; off with
# --cfg-options default_hooks.token_maps.enable=False
default_hooks = dict(token_maps=dict(type='vitkd_mm.TokenMapHook'))
