"""End to end under `mim train` / `mim test`: the tiny distillation logs
every loss term, keeps its teacher bit-identical, exports a student that
loads strictly, resumes, and tests the student."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from tests.utils import (MIM, TINY_CONFIG, convert_to_student, data_options,
                         make_image_folder, run, train_log_records)
from vitkd_mm.registry import MODELS


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Train the tiny distillation with `mim train mmpretrain`."""
    root = tmp_path_factory.mktemp('mim_train')
    data_root = make_image_folder(str(root / 'data'))
    teacher_ckpt = str(root / 'teacher.pth')
    cfg = Config.fromfile(TINY_CONFIG)
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        teacher = MODELS.build(cfg.model.teacher)
    torch.save(dict(state_dict=teacher.state_dict()), teacher_ckpt)
    work_dir = str(root / 'work_dir')
    log = run([
        MIM, 'train', 'mmpretrain', TINY_CONFIG, '--work-dir', work_dir,
        '--cfg-options', f'model.teacher_ckpt={teacher_ckpt}',
        *data_options(data_root)
    ])
    return dict(
        work_dir=work_dir,
        data_root=data_root,
        log=log,
        teacher=teacher.state_dict())


def test_mim_train_logs_every_loss_term(trained):
    records = train_log_records(trained['work_dir'])
    assert len(records) == 6  # 2 epochs x 3 iterations, logged every iter
    for record in records:
        assert {'student.loss', 'distill.loss_mimic'} <= set(record)
        assert record['loss'] == pytest.approx(
            record['student.loss'] + record['distill.loss_mimic'], abs=2e-4)
    assert 'Loaded teacher_ckpt' in trained['log']
    assert 'eta:' in trained['log']


def test_teacher_bit_identical_after_training(trained):
    checkpoint = torch.load(osp.join(trained['work_dir'], 'epoch_2.pth'))
    state = checkpoint['state_dict']
    for key, value in trained['teacher'].items():
        assert torch.equal(state[f'teacher.{key}'], value), key


def test_exported_student_loads_strictly(trained, tmp_path):
    from mmengine.registry import DefaultScope
    src = osp.join(trained['work_dir'], 'epoch_2.pth')
    dst = str(tmp_path / 'student.pth')
    convert_to_student(src, dst)
    student = torch.load(dst)
    assert set(student) == {'meta', 'state_dict'}
    keys = list(student['state_dict'])
    assert not any(
        k.startswith(('teacher.', 'distiller.', 'architecture.'))
        for k in keys)

    cfg = Config.fromfile(TINY_CONFIG)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        plain = MODELS.build(cfg.model.architecture)
    plain.load_state_dict(student['state_dict'], strict=True)
    distilled = torch.load(src)['state_dict']
    for key, value in plain.state_dict().items():
        assert torch.equal(value, distilled[f'architecture.{key}'])

    # the hook wrote the same weights at the end of training
    hooked = torch.load(osp.join(trained['work_dir'], 'student.pth'))
    assert hooked['state_dict'].keys() == student['state_dict'].keys()
    for key, value in hooked['state_dict'].items():
        assert torch.equal(value, student['state_dict'][key])


def test_resume_continues_the_run(trained):
    log = run([
        MIM, 'train', 'mmpretrain', TINY_CONFIG, '--work-dir',
        trained['work_dir'], '--resume', '--cfg-options',
        'train_cfg.max_epochs=3', *data_options(trained['data_root'])
    ])
    assert 'resumed epoch: 2, iter: 6' in log
    assert osp.exists(osp.join(trained['work_dir'], 'epoch_3.pth'))
    records = train_log_records(trained['work_dir'])
    assert records[-1]['epoch'] == 3 and records[-1]['iter'] == 9


def test_mim_test_reports_student_accuracy(trained):
    log = run([
        MIM, 'test', 'mmpretrain', TINY_CONFIG, '--checkpoint',
        osp.join(trained['work_dir'], 'epoch_2.pth'), '--work-dir',
        osp.join(trained['work_dir'], 'test'), '--cfg-options',
        *data_options(trained['data_root'])
    ])
    assert 'accuracy/top1' in log
