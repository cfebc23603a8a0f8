# Label-free ViTKD: the 48-dim student learns the teacher's features (mimic
# blocks 0 and 1, generate the deep tokens) on the 50,000 unlabelled images.
# Nothing reads a label: the student has no head and no loss of its own;
# no validation (the student has no head to score). The end of training
# writes student.pth (keys backbone.*), which the *_finetune-1k configs load.
_base_ = [
    './vit-d48_vitkd_fashion-mnist.py', '_base_/fashion-mnist_label-free.py'
]

train_dataloader = dict(dataset={{_base_.unlabelled_dataset}})
model = dict(architecture=dict(head=None), calculate_student_loss=False)
train_cfg = dict(max_epochs=6)

val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None
default_hooks = dict(token_maps=dict(enable=False))
custom_hooks = [
    dict(type='vitkd_mm.StudentExportHook'),
    dict(type='vitkd_mm.DistillerResumeCheckHook'),
]
