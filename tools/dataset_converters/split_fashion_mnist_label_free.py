"""Split prepared Fashion-MNIST into a labelled 1k and an unlabelled 50k.

Writes image folders that mmpretrain's ``CustomDataset`` reads, as a user's
own images would be::

    OUT/labelled_1k/<class>/<index>.png   100 images per class, a seeded
                                          draw from the first SUBSET
                                          training images (the kit's 10k)
    OUT/unlabelled/<index>.png            every training image from SUBSET
                                          on (50,000), no label

The unlabelled images come from the image file alone: the label file is
read only for its first SUBSET entries, so the labels of the unlabelled
images are never read. ``OUT/split.json`` records the split; a folder
whose record matches is left as it is.

Examples:
    python tools/dataset_converters/split_fashion_mnist_label_free.py
    python tools/dataset_converters/split_fashion_mnist_label_free.py \
        --data-root data/fashion_mnist --out data/fashion_mnist/label_free
"""
import argparse
import json
import os
import os.path as osp
import random

import cv2
import numpy as np
from mmpretrain.datasets.mnist import read_image_file

IMAGES = 'train-images-idx3-ubyte'
LABELS = 'train-labels-idx1-ubyte'
#: IDX label files: magic and count (two big-endian int32), then one byte
#: per label.
LABEL_HEADER_BYTES = 8


def read_first_labels(path, count):
    """The first ``count`` labels of an IDX label file; no byte after them
    is read."""
    labels = np.fromfile(
        path, dtype=np.uint8, count=count, offset=LABEL_HEADER_BYTES)
    if labels.size != count:
        raise ValueError(f'{path} holds {labels.size} labels, not {count}.')
    return labels


def draw_labelled(labels, per_class, seed=0):
    """``{class: sorted indices}``, ``per_class`` drawn per class."""
    rng = random.Random(seed)
    draw = {}
    for label in sorted(set(labels.tolist())):
        indices = np.flatnonzero(labels == label).tolist()
        if len(indices) < per_class:
            raise ValueError(f'class {label} has {len(indices)} images, '
                             f'fewer than {per_class}.')
        draw[label] = sorted(rng.sample(indices, per_class))
    return draw


def split(data_root, out, subset=10000, per_class=100, seed=0):
    """Write the two folders (see the module docstring).

    Returns:
        dict: The split record (also ``OUT/split.json``).
    """
    record = dict(
        source=osp.join(data_root, IMAGES),
        subset=subset,
        per_class=per_class,
        seed=seed)
    record_path = osp.join(out, 'split.json')
    if osp.isfile(record_path):
        with open(record_path) as f:
            done = json.load(f)
        if {key: done.get(key) for key in record} == record:
            return done
    images = read_image_file(osp.join(data_root, IMAGES)).numpy()  # N, H, W
    if images.shape[0] <= subset:
        raise ValueError(f'{IMAGES} has {images.shape[0]} images: none left '
                         f'after the first {subset} to leave unlabelled.')
    labels = read_first_labels(osp.join(data_root, LABELS), subset)
    draw = draw_labelled(labels, per_class, seed)
    for label, indices in draw.items():
        folder = osp.join(out, 'labelled_1k', str(label))
        os.makedirs(folder, exist_ok=True)
        for index in indices:
            cv2.imwrite(osp.join(folder, f'{index}.png'), images[index])
    folder = osp.join(out, 'unlabelled')
    os.makedirs(folder, exist_ok=True)
    for index in range(subset, images.shape[0]):
        cv2.imwrite(osp.join(folder, f'{index}.png'), images[index])
    record.update(
        labelled=sum(len(indices) for indices in draw.values()),
        unlabelled=images.shape[0] - subset)
    with open(record_path, 'w') as f:
        json.dump(record, f, indent=1)
    return record


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--data-root',
        default='data/fashion_mnist',
        help='prepared Fashion-MNIST (prepare_fashion_mnist.py)')
    parser.add_argument(
        '--out', help='where the folders go (default: DATA_ROOT/label_free)')
    parser.add_argument('--subset', type=int, default=10000)
    parser.add_argument('--per-class', type=int, default=100)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    out = args.out or osp.join(args.data_root, 'label_free')
    record = split(args.data_root, out, args.subset, args.per_class)
    print(f'{out}: {record["labelled"]} labelled, {record["unlabelled"]} '
          'unlabelled images')


if __name__ == '__main__':
    main()
