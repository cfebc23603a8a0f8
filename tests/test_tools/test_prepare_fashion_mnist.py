"""tools/dataset_converters/prepare_fashion_mnist.py: the upstream gzipped
IDX files to the four files mmpretrain's FashionMNIST reads."""
import gzip
import os
import os.path as osp

import numpy as np
import pytest

from tests.fashion_mnist_utils import ANY_SIZE, write_idx_gz
from tools.dataset_converters import prepare_fashion_mnist as prep

DEBIAN = prep.DEFAULT_SRC


def test_prepare_gives_what_mmpretrain_fashion_mnist_reads(fake_gz, tmp_path):
    from mmpretrain.datasets import FashionMNIST
    src, data = fake_gz
    out = str(tmp_path / 'fashion_mnist')
    written = prep.prepare(src, out, shapes=ANY_SIZE)
    assert sorted(written) == sorted(prep.SHAPES)
    # mmpretrain wants exactly the four decompressed files in data_root.
    assert sorted(os.listdir(out)) == sorted(prep.SHAPES)
    for split, test_mode in (('train', False), ('t10k', True)):
        dataset = FashionMNIST(
            data_root=out,
            split='test' if test_mode else 'train',
            test_mode=test_mode,
            download=False,
            pipeline=[])
        images, labels = data[split]
        assert len(dataset) == len(labels)
        for i in range(len(labels)):
            item = dataset[i]
            np.testing.assert_array_equal(item['img'], images[i])
            assert int(item['gt_label']) == labels[i]
    # A second call keeps the valid files.
    assert prep.prepare(src, out, shapes=ANY_SIZE) == []
    assert prep.is_prepared(out, ANY_SIZE)


def test_prepare_rejects_bad_files(fake_gz, tmp_path):
    src, _ = fake_gz
    # Wrong shape for the full dataset.
    with pytest.raises(ValueError, match='expected shape'):
        prep.prepare(src, str(tmp_path / 'a'))
    # Truncated images.
    path = osp.join(src, 'train-images-idx3-ubyte.gz')
    with gzip.open(path) as f:
        raw = f.read()
    with gzip.open(path, 'wb') as f:
        f.write(raw[:-10])
    with pytest.raises(ValueError, match='bytes, expected'):
        prep.prepare(src, str(tmp_path / 'b'), shapes=ANY_SIZE)
    # Labels out of range.
    write_idx_gz(
        osp.join(src, 'train-labels-idx1-ubyte.gz'), np.array([3, 12],
                                                              np.uint8))
    with pytest.raises(ValueError, match='out of range'):
        prep.prepare(
            src, str(tmp_path / 'c'), shapes={'train-labels-idx1-ubyte': None})
    assert not osp.exists(osp.join(tmp_path, 'c', 'train-labels-idx1-ubyte'))
    # Missing source.
    with pytest.raises(FileNotFoundError, match='dataset-fashion-mnist'):
        prep.prepare(str(tmp_path / 'nowhere'), str(tmp_path / 'd'))
    assert not prep.is_prepared(str(tmp_path / 'd'))


@pytest.mark.skipif(
    not osp.isfile(osp.join(DEBIAN, 'train-images-idx3-ubyte.gz')),
    reason='Debian package dataset-fashion-mnist not installed')
def test_prepare_debian_package(tmp_path):
    from mmpretrain.datasets import FashionMNIST
    out = str(tmp_path / 'fashion_mnist')
    prep.prepare(DEBIAN, out)
    assert prep.is_prepared(out)
    test_set = FashionMNIST(
        data_root=out,
        split='test',
        test_mode=True,
        download=False,
        indices=3,
        pipeline=[])
    assert len(test_set) == 3
    assert test_set[0]['img'].shape == (28, 28)
    # The first three test images of Fashion-MNIST: ankle boot, pullover,
    # trouser.
    assert [int(test_set[i]['gt_label']) for i in range(3)] == [9, 2, 1]
    assert test_set.metainfo['classes'][9] == 'Ankle boot'
