"""DistillerResumeCheckHook: ``--resume`` after changing the distiller's
weights says what changed; changes without weights resume.

The ``exported`` fixture (one epoch of the tiny config) is in
tests/conftest.py."""
import pytest
from mmengine.runner import Runner

from tests.utils import tiny_runner_cfg

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def resume_cfg(exported, tmp_path):
    cfg = tiny_runner_cfg(tmp_path)
    cfg.train_cfg.max_epochs = 2
    cfg.resume, cfg.load_from = True, exported['epoch']
    return cfg


def test_resume_after_a_distiller_change_says_what_changed(exported, tmp_path):
    cfg = resume_cfg(exported, tmp_path)
    distiller = cfg.model.distiller
    distiller.student_recorders.block1 = dict(
        type='ModuleOutputs', source='backbone.layers.1')
    distiller.teacher_recorders.block1 = dict(
        type='ModuleOutputs', source='backbone.layers.1')
    distiller.connectors.proj1 = dict(
        type='MimicConnector', student_dims=16, teacher_dims=24)
    distiller.distill_losses.loss_mimic1 = dict(type='MimicLoss')
    distiller.loss_forward_mappings.loss_mimic1 = dict(
        preds_S=dict(from_student=True, recorder='block1', connector='proj1'),
        preds_T=dict(
            from_student=False, recorder='block1', connector='tokens'))
    runner = Runner.from_cfg(cfg)
    with pytest.raises(
            ValueError,
            match=r"resume: the config's distiller differs from the one the "
            r'checkpoint was trained with \(added distiller.connectors.proj1'
            r'.proj\).*Resume with the original config, or start a new run '
            r'from these weights with load_from'):
        runner.train()


def test_resume_after_changes_without_weights_continues(exported, tmp_path):
    """held: resuming with another teacher_precision and loss weight."""
    cfg = resume_cfg(exported, tmp_path)
    cfg.model.teacher_precision = 'bf16'
    cfg.model.distiller.distill_losses.loss_mimic.loss_weight = 1e-2
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.epoch == 2 and runner.iter == 6
