"""SingleTeacherDistillValLoop: the teacher scored once per run, as training
feeds it, beside the student's metrics; k-NN for a headless teacher."""
import glob
import os.path as osp

import cv2
import pytest
import torch
import torch.nn.functional as F
from mmengine.runner import Runner

from tests.utils import read_run, tiny_runner_cfg
from vitkd_mm.engine.runner import distill_val_loop


def val_cfg(tmp_path, **loop):
    cfg = tiny_runner_cfg(tmp_path)
    cfg.val_cfg = dict(type='vitkd_mm.SingleTeacherDistillValLoop', **loop)
    return cfg


def test_teacher_top1_is_its_own_through_teacher_input(tmp_path):
    """A teacher with its own mean/std (0, 255) and input size (40 px): the
    logged top-1 is that of the teacher fed exactly that, by hand."""
    cfg = val_cfg(tmp_path)
    cfg.model.teacher.data_preprocessor = dict(
        type='ClsDataPreprocessor', mean=[0.] * 3, std=[255.] * 3)
    cfg.model.teacher_input = dict(size=40)
    runner = Runner.from_cfg(cfg)
    metrics = runner.val()
    teacher = runner.model.teacher
    data_root = cfg.val_dataloader.dataset.data_root
    correct = []
    for path in sorted(glob.glob(osp.join(data_root, '*', '*.png'))):
        image = cv2.imread(path)[..., ::-1].copy()  # RGB, as to_rgb=True
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        x = F.interpolate(x, 40, mode='bilinear', align_corners=False)
        with torch.no_grad():
            predicted = int(teacher(x, mode='tensor').argmax())
        correct.append(predicted == int(path.split('class_')[1][0]))
    assert metrics['teacher/accuracy/top1'] == pytest.approx(
        100 * sum(correct) / len(correct))
    assert 'accuracy/top1' in metrics  # the student's, as ValLoop logs it


def test_teacher_is_evaluated_once_per_run_and_across_resume(
        tmp_path, monkeypatch):
    calls = []
    evaluate = distill_val_loop.evaluate_teacher
    monkeypatch.setattr(distill_val_loop, 'evaluate_teacher',
                        lambda *a, **k: calls.append(1) or evaluate(*a, **k))
    cfg = val_cfg(tmp_path)
    Runner.from_cfg(cfg).train()  # 2 epochs, validated after each
    assert len(calls) == 1
    _, records = read_run(cfg.work_dir)
    teacher = [
        r['teacher/accuracy/top1'] for r in records if 'teacher/'
        'accuracy/top1' in r
    ]
    assert len(teacher) == 2 and teacher[0] == teacher[1]

    resumed = val_cfg(tmp_path)
    resumed.work_dir = str(tmp_path / 'resumed')
    resumed.train_cfg.max_epochs = 3
    resumed.resume = True
    resumed.load_from = osp.join(cfg.work_dir, 'epoch_2.pth')
    Runner.from_cfg(resumed).train()
    assert len(calls) == 1  # cached in the checkpoint's message hub
    _, records = read_run(resumed.work_dir)
    assert [
        r['teacher/accuracy/top1'] for r in records
        if 'teacher/accuracy/top1' in r
    ] == teacher[:1]


def test_headless_teacher_gets_a_knn_top1(tmp_path):
    """The tiny config trains and validates on one folder: with k=1 each
    validation image's nearest training image is itself, so top-1 is 100."""
    cfg = val_cfg(tmp_path, knn=dict(k=1, num_train=100))
    cfg.model.teacher.head = None
    metrics = Runner.from_cfg(cfg).val()
    assert metrics['teacher/knn/accuracy/top1'] == 100
    assert not any(key.startswith('teacher/accuracy') for key in metrics)


def test_unknown_knn_key_is_refused(tmp_path):
    cfg = val_cfg(tmp_path, knn=dict(kk=3))
    with pytest.raises(
            KeyError, match=r"val_cfg.knn has unknown key\(s\) "
            r"\['kk'\]"):
        Runner.from_cfg(cfg).val()
