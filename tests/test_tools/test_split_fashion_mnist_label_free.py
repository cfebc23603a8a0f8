"""tools/dataset_converters/split_fashion_mnist_label_free.py: the
label-free mode's labelled 1k / unlabelled split, read as the configs
read it."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config

from tests.fashion_mnist_utils import CONFIG_DIR
from tools.dataset_converters import split_fashion_mnist_label_free as split


def test_split_reads_no_label_of_the_unlabelled_images(split_root):
    """The label file holds labels for the subset only, yet the split
    writes every image after it: their labels are never read. The
    labelled folders hold a per-class draw from the subset."""
    import cv2
    out, images, labels, record = split_root
    assert (record['labelled'], record['unlabelled']) == (8, 10)
    names = sorted(os.listdir(osp.join(out, 'unlabelled')))
    assert names == sorted(f'{i}.png' for i in range(20, 30))
    for name in names:
        image = cv2.imread(osp.join(out, 'unlabelled', name), 0)
        assert np.array_equal(image, images[int(name[:-4])])
    for label in range(4):
        drawn = os.listdir(osp.join(out, 'labelled_1k', str(label)))
        assert len(drawn) == 2
        assert all(labels[int(name[:-4])] == label for name in drawn)
    # a second call finds the record and writes nothing
    os.remove(osp.join(out, 'unlabelled', '20.png'))
    assert split.split(osp.dirname(out), out, subset=20, per_class=2) == \
        record
    assert not osp.exists(osp.join(out, 'unlabelled', '20.png'))


def test_split_refuses_a_label_file_shorter_than_the_subset(split_root):
    out, *_ = split_root
    with pytest.raises(ValueError, match='holds 20 labels, not 25'):
        split.split(osp.dirname(out), out + '_2', subset=25, per_class=2)


def test_custom_dataset_reads_the_split_as_the_configs_do(split_root):
    """mmpretrain's CustomDataset with the configs' pipeline: no gt_label
    on the unlabelled folder, the folder's class on the labelled one."""
    from mmpretrain.datasets import CustomDataset
    out, images, labels, _ = split_root
    base = Config.fromfile(
        osp.join(CONFIG_DIR, '_base_', 'fashion-mnist_label-free.py'))
    pipeline = [base.image_train_pipeline[0], dict(type='PackInputs')]
    unlabelled = CustomDataset(
        data_root=out,
        data_prefix='unlabelled',
        with_label=False,
        pipeline=pipeline)
    sample = unlabelled[0]['data_samples']
    assert 'gt_label' not in sample and len(unlabelled) == 10
    assert unlabelled[0]['inputs'].shape == (1, 28, 28)
    labelled = CustomDataset(
        data_root=out, data_prefix='labelled_1k', pipeline=pipeline)
    for item in labelled:
        index = int(osp.basename(item['data_samples'].img_path)[:-4])
        assert int(item['data_samples'].gt_label) == labels[index]
        assert np.array_equal(item['inputs'][0].numpy(), images[index])
