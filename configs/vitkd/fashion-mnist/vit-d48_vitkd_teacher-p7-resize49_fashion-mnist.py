# The other way to match the grids: the 7 px teacher of
# vit-d48_vitkd_teacher-p7_fashion-mnist.py sees the student's batch resized
# to 49 x 49 (bilinear), so its grid is the student's 7 x 7 and no token is
# resized (its 4 x 4 position embedding is resized by mmpretrain instead).
# Both were trained with the same normalisation, so only the size changes.
_base_ = ['./vit-d48_vitkd_teacher-p7_fashion-mnist.py']

model = dict(teacher_input=dict(size=49))
