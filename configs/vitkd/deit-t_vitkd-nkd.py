# ViTKD + NKD: DeiT-Tiny <- DeiT III-Small. NKD adds a logit loss
# (gamma=1.0, T=1.0 for DeiT) on the teacher's and student's logits; the
# labels (mixed scores under Mixup/CutMix, argmax) come from the inputs of
# the student's loss module.
_base_ = ['./deit-t_vitkd.py']

model = dict(
    distiller=dict(
        student_recorders=dict(
            logits=dict(type='ModuleOutputs', source='head.layers.head'),
            gt_labels=dict(type='ModuleInputs', source='head.loss_module')),
        teacher_recorders=dict(
            logits=dict(type='ModuleOutputs', source='head.layers.head')),
        distill_losses=dict(
            loss_nkd=dict(
                type='NKDLoss', temperature=1.0, gamma=1.0,
                loss_weight=1.0)),
        loss_forward_mappings=dict(
            loss_nkd=dict(
                logit_s=dict(recorder='logits', from_student=True),
                logit_t=dict(recorder='logits', from_student=False),
                gt_label=dict(
                    recorder='gt_labels', from_student=True, data_idx=1)))))
