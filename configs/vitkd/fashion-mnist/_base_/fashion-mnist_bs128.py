# Fashion-MNIST (28 x 28 grayscale, 10 classes), prepared by
# tools/dataset_converters/prepare_fashion_mnist.py into data/fashion_mnist.
dataset_type = 'FashionMNIST'
data_root = 'data/fashion_mnist'
# Mean / std of the Fashion-MNIST training images (0-255 scale).
data_preprocessor = dict(
    num_classes=10, mean=[72.94], std=[90.02], to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=28, padding=2),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

# The students train on the first `indices` training images (the teacher
# config sets indices=None: all 60000). mmpretrain 1.2.0's MNIST datasets
# pick the test files by `test_mode`, not by `split`: both are set below.
train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        test_mode=False,
        download=False,
        indices=10000,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=256,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        test_mode=True,
        download=False,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
