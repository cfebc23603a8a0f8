# Ablation: deep generation only, no shallow mimicking.
_base_ = ['./vit-d48_vitkd_fashion-mnist.py']

model = dict(
    distiller=dict(
        connectors=dict(
            _delete_=True,
            gen=dict(
                type='GenerationConnector',
                student_dims=48,
                teacher_dims=96,
                mask_ratio=0.5,
                generator='conv',
                patch_resolution=(7, 7)),
            tokens=dict(type='DropExtraTokens', num_extra_tokens=1)),
        distill_losses=dict(
            _delete_=True,
            loss_gen=dict(
                type='GenerationLoss',
                loss_weight={{_base_.beta}},
                mask_ratio=0.5)),
        loss_forward_mappings=dict(
            _delete_=True,
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
