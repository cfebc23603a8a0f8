"""The Fashion-MNIST kit's label-free configs: the 1k arms, and a
pretraining run whose export the fine-tunes load."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from tests.fashion_mnist_utils import (CONFIG_DIR, PRETRAIN, build_model,
                                       fashion_batch)
from tests.utils import LabelTrap
from tools.fashion_mnist import arms

SHIPPED_TEACHER = arms.TEACHERS['teacher'].shipped


@pytest.mark.parametrize('arm', arms.LABEL_FREE_ARMS)
def test_label_free_arm_configs_build_and_train_one_step(arm):
    """The 1k arms train on the labelled folder, validate every 10 epochs;
    the pretrained ones start from StrictPretrained."""
    spec = arms.ARMS[arm]
    cfg = Config.fromfile(osp.join(CONFIG_DIR, spec.config))
    dataset = cfg.train_dataloader.dataset
    assert (dataset.type, dataset.data_prefix) == ('CustomDataset',
                                                   'labelled_1k')
    assert cfg.train_cfg.val_interval == 10
    student = cfg.model.get('architecture', cfg.model)
    if spec.pretraining is None:
        assert student.init_cfg[0].type == 'TruncNormal'
        _, model = build_model(osp.join(CONFIG_DIR, spec.config))
        losses = model(
            **model.data_preprocessor(fashion_batch(), True), mode='loss')
        assert all(torch.isfinite(v) for v in losses.values())
    else:
        assert student.init_cfg.type == 'vitkd_mm.StrictPretrained'
        assert '{pretrained}' in spec.cfg_options[0]


def pretrain_cfg(tmp_path, data_root):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, PRETRAIN.config))
    cfg.work_dir = str(tmp_path / 'pretrain')
    cfg.train_dataloader.update(
        batch_size=4, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_cfg.max_epochs = 1
    cfg.model.teacher_ckpt = SHIPPED_TEACHER
    return cfg


def test_pretraining_run_exports_what_the_finetunes_load(split_root, tmp_path):
    """The kit's pretraining config trains one epoch on the unlabelled
    folder with mmengine's Runner (no label anywhere: the algorithm would
    refuse its student loss, and it has none); the student.pth it exports
    fills both fine-tune configs' backbones key for key."""
    from mmengine.runner import Runner
    out, *_ = split_root
    cfg = pretrain_cfg(tmp_path, out)
    assert cfg.model.calculate_student_loss is False
    assert cfg.model.architecture.head is None
    runner = Runner.from_cfg(cfg)
    runner.train()
    exported = torch.load(osp.join(cfg.work_dir, 'student.pth'))['state_dict']
    assert exported and all(k.startswith('backbone.') for k in exported)
    trained = runner.model.architecture.backbone.state_dict()
    for arm in ('label-free-vitkd_1k', 'label-free-vitkd_vitkd-nkd_1k'):
        spec = arms.ARMS[arm]
        option = spec.cfg_options[0].format(
            pretrained=osp.join(cfg.work_dir, 'student.pth'))
        key, path = option.split('=')
        config = Config.fromfile(osp.join(CONFIG_DIR, spec.config))
        config.merge_from_dict({key: path})
        config.dump(str(tmp_path / f'{arm}.py'))
        _, model = build_model(str(tmp_path / f'{arm}.py'))
        model.init_weights()
        student = getattr(model, 'architecture', model)
        for name, value in trained.items():
            assert torch.equal(student.backbone.state_dict()[name],
                               value), (arm, name)


def test_pretraining_step_passes_a_sample_whose_label_raises():
    """No module on the pretraining path reads a label."""
    _, model = build_model(osp.join(CONFIG_DIR, PRETRAIN.config))
    batch = fashion_batch()
    batch['data_samples'] = [LabelTrap() for _ in batch['data_samples']]
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    assert {k
            for k in losses if 'loss' in k} == {
                'distill.loss_mimic_0', 'distill.loss_mimic_1',
                'distill.loss_gen'
            }
