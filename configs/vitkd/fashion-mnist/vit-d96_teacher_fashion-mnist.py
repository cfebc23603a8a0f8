# Teacher: the 96-dim ViT trained on all 60k Fashion-MNIST training images
# (more data than the students see, as the paper's in21k-pretrained DeiT III
# teachers). Trained once by tools.fashion_mnist.run_arms and reused.
_base_ = [
    '_base_/vits.py', '_base_/fashion-mnist_bs128.py',
    '_base_/schedule_adamw.py', '_base_/runtime.py'
]

custom_imports = dict(imports=['vitkd_mm'], allow_failed_imports=False)

model = {{_base_.teacher_model}}

train_dataloader = dict(dataset=dict(indices=None))
train_cfg = dict(max_epochs=10)
