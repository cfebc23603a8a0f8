import os.path as osp

import numpy as np
import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(autouse=True, scope='session')
def _single_thread():
    # Tests share two cores; intra-op threads only add contention here.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """Tests that set mmengine's default scope must not leak it."""
    from mmengine.registry import DefaultScope
    instances = dict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(instances)


@pytest.fixture
def mmpretrain_scope():
    """Build in the mmpretrain scope, as the Runner of an mmpretrain config
    does; the previous default scope comes back afterwards."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def make_image_folder(root, num_classes=3, per_class=4, size=32, seed=0):
    """Write a tiny ImageNet-style folder dataset: root/class_k/img_j.png.

    Each class has its own mean colour, so a model can learn something.
    """
    import cv2
    rng = np.random.default_rng(seed)
    for label in range(num_classes):
        folder = osp.join(root, f'class_{label}')
        import os
        os.makedirs(folder, exist_ok=True)
        for j in range(per_class):
            base = np.full((size, size, 3), 40 + 80 * label, np.float64)
            image = np.clip(base + rng.normal(0, 20, base.shape), 0, 255)
            cv2.imwrite(osp.join(folder, f'img_{j}.png'),
                        image.astype(np.uint8))
    return root


@pytest.fixture
def image_folder(tmp_path):
    return make_image_folder(str(tmp_path / 'data'))


TINY_CONFIG = osp.join(REPO_ROOT, 'tests', 'configs', 'tiny_vit_distill.py')


def tiny_distill_cfg():
    """The model config of ``tests/configs/tiny_vit_distill.py``.

    With the top-level ``data_preprocessor`` merged in, as the Runner does.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return cfg.model


def fake_batch(batch_size=4, num_classes=3, size=32, seed=0):
    """A data batch as mmpretrain's dataloader yields it."""
    from mmpretrain.structures import DataSample
    generator = torch.Generator().manual_seed(seed)
    inputs = [
        torch.randint(0, 256, (3, size, size), generator=generator,
                      dtype=torch.uint8) for _ in range(batch_size)
    ]
    samples = [
        DataSample().set_gt_label(i % num_classes) for i in range(batch_size)
    ]
    return dict(inputs=inputs, data_samples=samples)
