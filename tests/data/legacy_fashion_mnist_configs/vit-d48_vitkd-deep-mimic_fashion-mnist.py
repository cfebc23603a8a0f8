# Ablation (the paper's guideline 2): mimic the deep tokens directly, like
# the shallow ones, instead of generating them from masked student tokens.
_base_ = ['./vit-d48_vitkd_fashion-mnist.py']

model = dict(
    distiller=dict(
        connectors=dict(
            _delete_=True,
            s0=dict(type='MimicConnector', student_dims=48, teacher_dims=96),
            s1=dict(type='MimicConnector', student_dims=48, teacher_dims=96),
            deep=dict(type='MimicConnector', student_dims=48, teacher_dims=96),
            tokens=dict(type='DropExtraTokens', num_extra_tokens=1)),
        distill_losses=dict(
            _delete_=True,
            loss_mimic_0=dict(type='MimicLoss', loss_weight={{_base_.alpha}}),
            loss_mimic_1=dict(type='MimicLoss', loss_weight={{_base_.alpha}}),
            loss_mimic_deep=dict(
                type='MimicLoss', loss_weight={{_base_.alpha}})),
        loss_forward_mappings=dict(
            _delete_=True,
            loss_mimic_0=dict(
                preds_S=dict(from_student=True, recorder='s0', connector='s0'),
                preds_T=dict(
                    from_student=False, recorder='t0', connector='tokens')),
            loss_mimic_1=dict(
                preds_S=dict(from_student=True, recorder='s1', connector='s1'),
                preds_T=dict(
                    from_student=False, recorder='t1', connector='tokens')),
            loss_mimic_deep=dict(
                preds_S=dict(
                    from_student=True, recorder='deep', connector='deep'),
                preds_T=dict(
                    from_student=False, recorder='deep',
                    connector='tokens')))))
