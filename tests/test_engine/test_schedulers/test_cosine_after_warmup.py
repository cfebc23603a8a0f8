"""CosineAfterWarmupLR: the Fashion-MNIST schedule's cosine after the
warm-up, which trains any positive max_epochs."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from tests.utils import REPO_ROOT, tiny_runner_cfg

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')

FASHION_SCHEDULE = osp.join(REPO_ROOT, 'configs', 'vitkd', 'fashion-mnist',
                            '_base_', 'schedule_adamw.py')


@pytest.mark.parametrize('max_epochs', [1, 2])
def test_fashion_mnist_schedule_trains_any_positive_max_epochs(
        tmp_path, max_epochs):
    cfg = tiny_runner_cfg(tmp_path)
    cfg.param_scheduler = Config.fromfile(FASHION_SCHEDULE).param_scheduler
    cfg.train_cfg.max_epochs = max_epochs
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    runner = Runner.from_cfg(cfg)
    runner.train()
    lr = runner.optim_wrapper.param_groups[0]['lr']
    if max_epochs == 1:  # the warm-up alone: it ends at the base lr
        assert lr == pytest.approx(1e-3)
    else:  # then the cosine over 3 iterations, the last at step 2 of 3
        cosine = 1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi * 2 / 3)) / 2
        assert lr == pytest.approx(cosine)


def test_fashion_mnist_cosine_is_mmengines_after_the_warm_up():
    from mmengine.registry import PARAM_SCHEDULERS
    cosine = Config.fromfile(FASHION_SCHEDULE).param_scheduler[1]
    lrs = {}
    for name in ('vitkd_mm.CosineAfterWarmupLR', 'CosineAnnealingLR'):
        optimizer = torch.optim.SGD([torch.zeros(1)], lr=1.0)
        scheduler = PARAM_SCHEDULERS.build(
            dict(cosine, type=name, end=4),
            default_args=dict(optimizer=optimizer, epoch_length=3))
        lrs[name] = []
        for _ in range(12):
            optimizer.step()
            scheduler.step()
            lrs[name].append(optimizer.param_groups[0]['lr'])
    assert lrs['vitkd_mm.CosineAfterWarmupLR'] == lrs['CosineAnnealingLR']
