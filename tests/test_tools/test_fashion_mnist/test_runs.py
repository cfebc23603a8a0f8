"""tools/fashion_mnist/runs.py: how many runs at once, the record a run
keeps (RunRecord), a run trained in a fresh process, and a failed run."""
import glob
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch

from tests.fashion_mnist_utils import ANY_SIZE, COMMITTED
from tools.dataset_converters import prepare_fashion_mnist as prep
from tools.fashion_mnist import arms, runs


def test_concurrency_on_cpu(monkeypatch):
    """Default: one 1-thread run per core; a user's OMP_NUM_THREADS wins."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(os, 'cpu_count', lambda: 4)
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    assert runs.concurrency(None, 17) == (4, '1')
    assert runs.concurrency(None, 2) == (2, '2')  # --demo: 2 cores each
    assert runs.concurrency(8, 17) == (8, '1')  # more jobs than cores
    monkeypatch.setenv('OMP_NUM_THREADS', '3')
    assert runs.concurrency(1, 17) == (1, '3')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert runs.concurrency(None, 17) == (1, None)


def test_run_record_averages_each_epoch():
    """The record reads the message hub as the Runner's hooks filled it:
    per epoch the mean of the alignment values, losses left out; the
    validation curve and the teacher's top-1 from the loop's metrics."""
    from types import SimpleNamespace

    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('test_run_record_averages_each_epoch')
    runner = SimpleNamespace(message_hub=hub, epoch=0)
    record = runs.RunRecord()
    for epoch, values in ((0, (0.2, 0.4)), (1, (0.9, ))):
        runner.epoch = epoch
        for value in values:
            outputs = {
                'loss': 2 * value,
                'distill.loss_gen': value / 2,
                'distill.cos_gen_masked': value,
                'distill.agree_top1_nkd': 1 - value
            }
            hub.update_scalar('train/time', value / 10)
            for key, item in outputs.items():
                hub.update_scalar(f'train/{key}', item)
            record.after_train_iter(runner, 0, outputs=outputs)
        runner.epoch = epoch + 1
        record.after_val_epoch(runner, {
            'accuracy/top1': 70.0 + epoch,
            'teacher/accuracy/top1': 88.5
        })
    assert record.alignment == {
        'cos_gen_masked': [[1, pytest.approx(0.3)], [2, 0.9]],
        'agree_top1_nkd': [[1, pytest.approx(0.7)], [2, pytest.approx(0.1)]],
    }
    assert record.iter_times == pytest.approx([0.02, 0.04, 0.09])
    assert record.losses == pytest.approx([0.4, 0.8, 1.8])
    assert record.curve == [[1, 70.0], [2, 71.0]]
    assert record.teacher_top1 == 88.5


def scalars(work_dir):
    """The records of the run's ``vis_data/scalars.json``."""
    path, = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_train_records_what_the_runner_logged(fake_gz, tmp_path):
    """A kit run trains in a fresh process and returns what mmengine's own
    log (``scalars.json``, every iteration logged) holds: the validation
    curve, the teacher's top-1, each epoch's mean alignment metrics and
    seconds per iteration; the record has the committed records' fields,
    is written to ``result.json`` and reused."""
    from vitkd_mm.utils import fresh_process_pool
    src, _ = fake_gz
    root = str(tmp_path / 'data')
    prep.prepare(src, root, shapes=ANY_SIZE)
    config = osp.join(arms.CONFIG_DIR, arms.ARMS['vitkd-nkd'].config)
    work_dir = str(tmp_path / 'run')
    options = [
        'train_cfg.max_epochs=2', 'default_hooks.logger.interval=1',
        f'model.teacher_ckpt={arms.TEACHERS["teacher"].shipped}',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False', *[
            f'{loader}.dataset.data_root={root}'
            for loader in ('train_dataloader', 'val_dataloader')
        ]
    ]
    with fresh_process_pool() as pool:
        result = runs.train(pool, 'run', config, work_dir, 3, options)

    logged = scalars(work_dir)
    validations = [r for r in logged if 'accuracy/top1' in r]
    iterations = [r for r in logged if 'lr' in r]
    assert len(iterations) == 6  # 6 images, batch 2, 2 epochs
    assert result['curve'] == [[r['step'], r['accuracy/top1']]
                               for r in validations]
    assert result['top1'] == validations[-1]['accuracy/top1']
    assert result['teacher_top1'] == validations[-1]['teacher/accuracy/top1']
    # mmengine logs `time` as the mean of the last 10 iterations: here all.
    assert result['sec_per_iter'] == pytest.approx(iterations[-1]['time'])
    metrics = [
        k[len('distill.'):] for k in iterations[0]
        if k.startswith('distill.') and 'loss' not in k
    ]
    assert 'cos_mimic_0' in metrics and 'agree_top1_nkd' in metrics
    assert result['alignment'] == {
        metric: [[
            epoch,
            pytest.approx(
                np.mean([
                    r[f'distill.{metric}'] for r in iterations
                    if r['epoch'] == epoch
                ]))
        ] for epoch in (1, 2)]
        for metric in metrics
    }
    assert result['command'] == (
        f'python tools/train.py {config} --work-dir {work_dir} '
        f'--cfg-options randomness.seed=3 {" ".join(options)}')
    assert result['cpu_s'] > 0 and result['device'].startswith('cpu: ')
    with open(COMMITTED + '_label-free.json') as f:  # from subprocess runs
        committed = json.load(f)['runs']['vitkd-nkd_1k'][0]
    assert set(result) == set(committed)
    with open(osp.join(work_dir, runs.LOG_FILE)) as f:
        assert 'Epoch(train) [2][3/3]' in f.read()
    assert runs.train(None, 'run', config, work_dir, 3, options) == \
        json.loads(json.dumps(result))  # reused from result.json


def test_a_failed_run_names_its_command_and_log(tmp_path):
    from vitkd_mm.utils import fresh_process_pool
    work_dir = str(tmp_path / 'run')
    with fresh_process_pool() as pool, \
            pytest.raises(RuntimeError,
                          match=r'(?s)failed.*tools/train.py nowhere.py.*'
                          'last lines of'):
        runs.train(pool, 'run', 'nowhere.py', work_dir, 0, [])
    assert not osp.exists(osp.join(work_dir, runs.RESULT_FILE))
