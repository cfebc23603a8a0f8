# ViTKD + NKD: ViTKD's feature losses plus NKD on the logits (gamma 1.0 and
# T 1.0, as the paper's DeiT configs). The student keeps its own
# label-smoothed cross-entropy at full weight.
_base_ = ['./vit-d48_vitkd_fashion-mnist.py']

model = dict(
    distiller=dict(
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
