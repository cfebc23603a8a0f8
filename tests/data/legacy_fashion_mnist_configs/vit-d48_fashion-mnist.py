# Student baseline: the 48-dim ViT trained alone on 10k Fashion-MNIST images
# with the recipe every distillation arm shares.
_base_ = [
    '_base_/vits.py', '_base_/fashion-mnist_bs128.py',
    '_base_/schedule_adamw.py', '_base_/runtime.py'
]

custom_imports = dict(imports=['vitkd_mm'], allow_failed_imports=False)

model = {{_base_.student_model}}
