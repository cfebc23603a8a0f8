"""StudentExportHook: the student's (or its EMA's) weights and what
inference reads, written at the end of training; a path it cannot write or
a model without a student is refused before training.

The ``exported`` fixture (one epoch of the tiny config) is in
tests/conftest.py."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from tests.utils import tiny_runner_cfg
from vitkd_mm.utils import safe_torch_load, student_checkpoint

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def test_export_hook_creates_the_folder_of_its_file(exported):
    student = safe_torch_load(exported['student'])
    assert student['meta']['epoch'] == 1
    assert list(student['state_dict']) == list(
        exported['runner'].model.architecture.state_dict())


def test_exports_keep_what_inference_reads(exported):
    from mmpretrain.apis import get_model
    classes = ('class_0', 'class_1', 'class_2')
    epoch_meta = safe_torch_load(exported['epoch'])['meta']
    assert epoch_meta['dataset_meta'] == dict(classes=classes)
    hook_meta = safe_torch_load(exported['student'])['meta']
    converted_meta = student_checkpoint(safe_torch_load(
        exported['epoch']))['meta']
    for meta in (hook_meta, converted_meta):
        assert meta['dataset_meta'] == epoch_meta['dataset_meta']
        assert meta['experiment_name'] == epoch_meta['experiment_name']
        assert meta['seed'] == epoch_meta['seed']
    student_cfg = Config(
        dict(model=exported['cfg'].model.architecture.to_dict()))
    model = get_model(student_cfg, pretrained=exported['student'])
    assert model._dataset_meta['classes'] == classes


@pytest.mark.parametrize('blocked', ['parent_is_a_file', 'path_is_a_folder'])
def test_export_hook_refuses_an_unwritable_path_before_training(
        tmp_path, blocked):
    cfg = tiny_runner_cfg(tmp_path)
    work_dir = tmp_path / 'work_dir'
    work_dir.mkdir()
    if blocked == 'parent_is_a_file':
        (work_dir / 'export').write_text('a file')
        filename, message = 'export/student.pth', 'cannot create the folder'
    else:
        (work_dir / 'student.pth').mkdir()
        filename, message = 'student.pth', 'is the folder'
    cfg.custom_hooks[0].filename = filename
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match=f'StudentExportHook: .*{message}'):
        runner.train()
    assert runner.iter == 0 and not (work_dir / 'epoch_1.pth').exists()


def test_export_hook_refuses_a_model_without_a_student_before_training(
        tmp_path):
    cfg = tiny_runner_cfg(tmp_path)
    cfg.model = cfg.model.architecture
    cfg.custom_hooks = [dict(type='vitkd_mm.StudentExportHook')]
    runner = Runner.from_cfg(cfg)
    with pytest.raises(
            ValueError,
            match=r'StudentExportHook exports the student of a distillation '
            r'model, but the model \(ImageClassifier\) has no '
            r'architecture.\* weights'):
        runner.train()
    assert runner.iter == 0


def test_student_export_hook_writes_ema_weights(tmp_path):
    cfg = tiny_runner_cfg(tmp_path)
    cfg.custom_hooks = [
        dict(type='EMAHook', momentum=0.5),
        dict(type='vitkd_mm.StudentExportHook', filename='ema_student.pth')
    ]
    runner = Runner.from_cfg(cfg)
    runner.train()
    ema = [h for h in runner.hooks if type(h).__name__ == 'EMAHook'][0]
    exported = torch.load(osp.join(cfg.work_dir, 'ema_student.pth'))
    averaged = ema.ema_model.module.architecture.state_dict()
    raw = runner.model.architecture.state_dict()
    assert exported['state_dict'].keys() == raw.keys()
    assert any(not torch.equal(averaged[k], raw[k]) for k in raw)
    for key, value in exported['state_dict'].items():
        assert torch.equal(value, averaged[key]), key
