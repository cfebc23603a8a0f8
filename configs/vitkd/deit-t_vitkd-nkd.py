# ViTKD + NKD: DeiT-Tiny <- DeiT III-Small. NKD adds a logit loss
# (gamma=1.0, T=1.0 for DeiT) on the teacher's and student's logits; the
# labels (mixed scores under Mixup/CutMix, argmax) come from the inputs of
# the student's loss module. The distiller is the preset form of the
# listing in deit-t_vitkd.py, plus NKD.
_base_ = ['./deit-t_vitkd.py']

model = dict(
    distiller=dict(
        _delete_=True,
        type='ViTKDDistiller',
        student_dims={{_base_.student_dims}},
        teacher_dims={{_base_.teacher_dims}},
        patch_resolution={{_base_.patch_resolution}},
        nkd=dict(temperature=1.0, gamma=1.0)))
