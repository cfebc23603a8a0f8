# Grid-mismatch teacher: the 96-dim teacher of
# vit-d96_teacher_fashion-mnist.py with 7 x 7 patches, so its token grid on
# 28 x 28 inputs is 4 x 4 (N = 16) while the students' is 7 x 7 (N = 49).
# Same data (all 60k images), recipe and epochs as the first teacher; it is
# the teacher of the ``*_teacher-p7_*`` token-grid alignment arms.
_base_ = ['./vit-d96_teacher_fashion-mnist.py']

model = dict(backbone=dict(patch_size=7))
