import os.path as osp

import numpy as np
import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(autouse=True, scope='session')
def _single_thread():
    # Tests share two cores; intra-op threads only add contention here.
    torch.set_num_threads(1)


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
