# The label-free split of Fashion-MNIST as image folders, read by
# mmpretrain's CustomDataset as a user's own images would be (written by
# tools/dataset_converters/split_fashion_mnist_label_free.py):
# - labelled_1k: 100 images per class (folders 0-9 = the class index), a
#   seeded draw from the first 10k training images;
# - unlabelled: the 50,000 training images after the first 10k, no label.
# Validation stays on the 10k labelled test images (fashion-mnist_bs128.py).
# Datasets to use as `train_dataloader = dict(dataset={{_base_.<name>}})`.
label_free_root = 'data/fashion_mnist/label_free'
image_train_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='RandomCrop', crop_size=28, padding=2),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
labelled_1k_dataset = dict(
    _delete_=True,
    type='CustomDataset',
    data_root=label_free_root,
    data_prefix='labelled_1k',
    pipeline=image_train_pipeline)
unlabelled_dataset = dict(
    _delete_=True,
    type='CustomDataset',
    data_root=label_free_root,
    data_prefix='unlabelled',
    with_label=False,
    pipeline=image_train_pipeline)
# 8 iterations per epoch on 1k images: validate every 10 epochs.
labelled_1k_train_cfg = dict(val_interval=10)
