"""End to end: Runner, `mim train`, resume, student export, 2-process DDP."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from tests.utils import (MIM, PYTHON, REPO_ROOT, TINY_CONFIG,
                         convert_to_student, data_options, free_port,
                         make_image_folder, run, tiny_runner_cfg)
from vitkd_mm.registry import MODELS


def train_log_records(work_dir):
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', '2*.json')))
    assert logs, f'no json log in {work_dir}'
    records = []
    for path in logs:
        with open(path) as f:
            records += [json.loads(line) for line in f]
    return [r for r in records if 'loss' in r]


class TeacherModeProbe(Hook):
    """Records the teacher's training flag around every iteration."""

    def __init__(self):
        self.flags = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.flags.append(runner.model.teacher.training)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.flags.append(runner.model.teacher.training)


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


def test_convert_rejects_a_plain_checkpoint(tmp_path):
    src = str(tmp_path / 'plain.pth')
    torch.save(dict(state_dict={'backbone.w': torch.zeros(1)}), src)
    result = subprocess.run([
        PYTHON, 'tools/model_converters/convert_to_student.py', src,
        str(tmp_path / 'out.pth')
    ],
                            cwd=REPO_ROOT,
                            capture_output=True,
                            text=True)
    assert result.returncode != 0
    assert "No key starts with 'architecture.'" in result.stderr


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


def test_runner_keeps_teacher_in_eval_every_iteration(tmp_path):
    cfg = tiny_runner_cfg(tmp_path)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10)
    runner = Runner.from_cfg(cfg)
    probe = TeacherModeProbe()
    runner.register_hook(probe)
    runner.train()
    assert len(probe.flags) == 12 and not any(probe.flags)


def test_two_process_cpu_ddp(tmp_path):
    data_root = make_image_folder(str(tmp_path / 'data'))
    work_dir = str(tmp_path / 'work_dir')
    torchrun = osp.join(osp.dirname(sys.executable), 'torchrun')
    log = run([
        torchrun, '--nproc_per_node', '2', '--master_port',
        free_port(), 'tools/train.py', TINY_CONFIG, '--launcher', 'pytorch',
        '--work-dir', work_dir, '--cfg-options', *data_options(data_root)
    ],
              timeout=300)
    assert 'Distributed launcher: pytorch' in log or 'world_size: 2' in log
    assert osp.exists(osp.join(work_dir, 'epoch_2.pth'))
    assert osp.exists(osp.join(work_dir, 'student.pth'))
    records = train_log_records(work_dir)
    # 12 images, batch 4 per process, 2 processes: 2 iterations per epoch
    assert [r['iter'] for r in records] == [1, 2, 3, 4]


def gloo_threads():
    """Names of this process's native gloo threads (Linux /proc)."""
    task_dir = '/proc/self/task'
    names = []
    for tid in os.listdir(task_dir):
        with open(osp.join(task_dir, tid, 'comm')) as f:
            names.append(f.read().strip())
    return sorted(name for name in names if 'gloo' in name)


@pytest.mark.skipif(
    not osp.isdir('/proc/self/task'), reason='needs Linux /proc')
def test_train_script_ends_its_process_group(tmp_path, monkeypatch):
    """Gloo threads left to interpreter teardown can abort the process, so
    train.py must free the DDP model and destroy the group itself."""
    import train
    threads_before = gloo_threads()
    for key, value in dict(
            RANK='0',
            LOCAL_RANK='0',
            WORLD_SIZE='1',
            MASTER_ADDR='127.0.0.1',
            MASTER_PORT=free_port()).items():
        monkeypatch.setenv(key, value)
    data_root = make_image_folder(str(tmp_path / 'data'))
    work_dir = str(tmp_path / 'work_dir')
    monkeypatch.setattr(sys, 'argv', [
        'train.py', TINY_CONFIG, '--launcher', 'pytorch', '--work-dir',
        work_dir, '--cfg-options', 'train_cfg.max_epochs=1',
        *data_options(data_root)
    ])
    try:
        train.main()
        assert not dist.is_initialized()
        assert gloo_threads() == threads_before
        assert osp.exists(osp.join(work_dir, 'epoch_1.pth'))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


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


# Runs tools/train.py, killing itself (SIGKILL) halfway through writing
# epoch_2.pth: the file is torn and last_checkpoint still names epoch_1.pth.
KILL_WHILE_SAVING_EPOCH_2 = '''
import os, runpy, signal, sys
from mmengine.fileio.backends import LocalBackend
put = LocalBackend.put
def torn_put(self, obj, filepath):
    if str(filepath).endswith('epoch_2.pth'):
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    put(self, obj, filepath)
LocalBackend.put = torn_put
sys.argv = ['tools/train.py', *sys.argv[1:]]
runpy.run_path('tools/train.py', run_name='__main__')
'''


def test_sigkill_while_saving_then_resume(tmp_path):
    import signal

    from vitkd_mm.utils import UnreadableCheckpointError, safe_torch_load
    data_root = make_image_folder(str(tmp_path / 'data'))
    teacher_ckpt = str(tmp_path / 'teacher.pth')
    cfg = Config.fromfile(TINY_CONFIG)
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        teacher = MODELS.build(cfg.model.teacher).state_dict()
    torch.save(dict(state_dict=teacher), teacher_ckpt)
    work_dir = tmp_path / 'work_dir'
    args = [
        TINY_CONFIG, '--work-dir',
        str(work_dir), '--cfg-options', f'model.teacher_ckpt={teacher_ckpt}',
        *data_options(data_root)
    ]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO_ROOT)
    killed = subprocess.run([PYTHON, '-c', KILL_WHILE_SAVING_EPOCH_2, *args],
                            cwd=REPO_ROOT,
                            env=env,
                            capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (work_dir / 'last_checkpoint').read_text().endswith('epoch_1.pth')
    with pytest.raises(UnreadableCheckpointError):
        safe_torch_load(work_dir / 'epoch_2.pth')  # torn

    log = run([PYTHON, 'tools/train.py', *args, '--resume'])
    assert 'resumed epoch: 1, iter: 3' in log
    resumed = safe_torch_load(work_dir / 'epoch_2.pth')
    assert resumed['meta']['epoch'] == 2 and resumed['meta']['iter'] == 6
    for key, value in teacher.items():
        assert torch.equal(resumed['state_dict'][f'teacher.{key}'], value), key
