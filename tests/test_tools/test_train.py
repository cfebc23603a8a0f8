"""tools/train.py: 2-process CPU DDP, the process group it ends itself, and
resuming after a SIGKILL while saving a checkpoint."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config

from tests.utils import (PYTHON, REPO_ROOT, TINY_CONFIG, data_options,
                         free_port, make_image_folder, run, train_log_records)
from vitkd_mm.registry import MODELS


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
