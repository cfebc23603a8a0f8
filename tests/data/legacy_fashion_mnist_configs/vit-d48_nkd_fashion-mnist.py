# NKD only: logit distillation from the 96-dim teacher (gamma 1.0, T 1.0).
_base_ = ['./vit-d48_fashion-mnist.py']

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
            logits=dict(type='ModuleOutputs', source='head.layers.head'),
            gt=dict(type='ModuleInputs', source='head.loss_module')),
        teacher_recorders=dict(
            logits=dict(type='ModuleOutputs', source='head.layers.head')),
        distill_losses=dict(
            loss_nkd=dict(
                type='NKDLoss', temperature=1.0, gamma=1.0, loss_weight=1.0)),
        loss_forward_mappings=dict(
            loss_nkd=dict(
                logit_s=dict(from_student=True, recorder='logits'),
                logit_t=dict(from_student=False, recorder='logits'),
                gt_label=dict(from_student=True, recorder='gt',
                              data_idx=1)))))
