# ViTKD: the 48-dim student mimics the 96-dim teacher's blocks 0 and 1 and
# generates its deep (after the final LayerNorm) patch tokens from a 50 %
# masked copy of its own.
_base_ = ['./vit-d48_fashion-mnist.py']

# The paper's alpha = 3e-5 and beta = 3e-6 are per sum over N = 196 tokens
# x D_t = 384 channels; we keep the same weight per element for our
# N = 49 x D_t = 96 tokens: x (196 * 384) / (49 * 96) = x 16.
alpha = 4.8e-4
beta = 4.8e-5

model = dict(
    _delete_=True,
    type='vitkd_mm.SingleTeacherDistill',
    architecture={{_base_.student_model}},
    teacher={{_base_.teacher_model}},
    # Written by training vit-d96_teacher_fashion-mnist.py with
    # tools/train.py (the reproduction script passes its own path).
    teacher_ckpt='work_dirs/vit-d96_teacher_fashion-mnist/epoch_10.pth',
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            s0=dict(type='ModuleOutputs', source='backbone.layers.0'),
            s1=dict(type='ModuleOutputs', source='backbone.layers.1'),
            deep=dict(type='ModuleOutputs', source='backbone.ln1')),
        teacher_recorders=dict(
            t0=dict(type='ModuleOutputs', source='backbone.layers.0'),
            t1=dict(type='ModuleOutputs', source='backbone.layers.1'),
            deep=dict(type='ModuleOutputs', source='backbone.ln1')),
        connectors=dict(
            s0=dict(type='MimicConnector', student_dims=48, teacher_dims=96),
            s1=dict(type='MimicConnector', student_dims=48, teacher_dims=96),
            gen=dict(
                type='GenerationConnector',
                student_dims=48,
                teacher_dims=96,
                mask_ratio=0.5,
                generator='conv',
                patch_resolution=(7, 7)),
            tokens=dict(type='DropExtraTokens', num_extra_tokens=1)),
        distill_losses=dict(
            loss_mimic_0=dict(type='MimicLoss', loss_weight=alpha),
            loss_mimic_1=dict(type='MimicLoss', loss_weight=alpha),
            loss_gen=dict(
                type='GenerationLoss', loss_weight=beta, mask_ratio=0.5)),
        loss_forward_mappings=dict(
            loss_mimic_0=dict(
                preds_S=dict(from_student=True, recorder='s0', connector='s0'),
                preds_T=dict(
                    from_student=False, recorder='t0', connector='tokens')),
            loss_mimic_1=dict(
                preds_S=dict(from_student=True, recorder='s1', connector='s1'),
                preds_T=dict(
                    from_student=False, recorder='t1', connector='tokens')),
            loss_gen=dict(
                preds_S=dict(
                    from_student=True,
                    recorder='deep',
                    connector='gen',
                    connector_idx=0),
                preds_T=dict(
                    from_student=False, recorder='deep', connector='tokens'),
                mask=dict(
                    from_student=True,
                    recorder='deep',
                    connector='gen',
                    connector_idx=1)))))
