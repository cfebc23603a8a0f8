"""Distributed training: the launch scripts, DDP against one process,
resume on another world size, and two nodes in network namespaces."""
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.model.utils import convert_sync_batchnorm
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from tests.dist_utils import (DDP_CONFIG, TEACHER_BN, equivalence_cfg,
                              make_teacher_checkpoint, train_steps)
from tests.utils import (PYTHON, REPO_ROOT, data_options, fake_batch,
                         free_port, make_image_folder, run)
from vitkd_mm.registry import MODELS
from vitkd_mm.utils import safe_torch_load

#: Optimizer steps and per-process batch of the DDP equivalence run.
STEPS, BATCH = 3, 2


def trainable(state_dict):
    return {
        k: v
        for k, v in state_dict.items() if not k.startswith('teacher.')
    }


def teacher_part(state_dict):
    return {
        k[len('teacher.'):]: v
        for k, v in state_dict.items() if k.startswith('teacher.')
    }


def assert_equal_states(actual, expected):
    assert actual.keys() == expected.keys()
    unequal = [k for k in expected if not torch.equal(actual[k], expected[k])]
    assert not unequal, unequal


def build_ddp_model(teacher_ckpt):
    cfg = Config.fromfile(DDP_CONFIG)
    cfg.model.teacher_ckpt = teacher_ckpt
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('teacher') / 'teacher.pth')
    return path, make_teacher_checkpoint(path)


@pytest.fixture(scope='module')
def ddp_run(tmp_path_factory, teacher_ckpt):
    """The worker's results of both ranks (see tests/dist_worker.py)."""
    out_dir = str(tmp_path_factory.mktemp('ddp'))
    run([
        PYTHON, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
        '--master_port',
        free_port(), 'tests/dist_worker.py', out_dir, teacher_ckpt[0],
        str(STEPS),
        str(BATCH)
    ],
        timeout=300)
    return [
        safe_torch_load(osp.join(out_dir, f'rank{rank}.pth'))
        for rank in (0, 1)
    ]


def test_ddp_steps_equal_one_process_steps(ddp_run, teacher_ckpt, tmp_path):
    """2 processes x batch B and 1 process x batch 2B, same samples and
    masks: the same student and connector weights after every step."""
    runner = Runner.from_cfg(equivalence_cfg(str(tmp_path), teacher_ckpt[0]))
    runner.model.load_state_dict(ddp_run[0]['states'][0], strict=False)
    states = train_steps(runner, STEPS, 2 * BATCH)
    rank0, rank1 = ddp_run[0]['states'], ddp_run[1]['states']
    assert len(states) == len(rank0) == STEPS + 1
    changed = [
        k for k in states[0] if not torch.equal(states[0][k], states[-1][k])
    ]
    assert changed == list(states[0])  # every trainable tensor moved
    for step, (one, r0, r1) in enumerate(zip(states, rank0, rank1)):
        assert_equal_states(r1, r0)  # DDP: identical on every rank
        for key in one:
            torch.testing.assert_close(
                r0[key], one[key], rtol=1e-5, atol=1e-6, msg=f'{key}@{step}')


def test_ddp_buckets_hold_no_teacher_parameter(ddp_run, teacher_ckpt):
    """DDP reduces exactly the student's and the distiller's parameters."""
    params = dict(build_ddp_model(teacher_ckpt[0]).named_parameters())
    teacher = [p for name, p in params.items() if name.startswith('teacher.')]
    trained = [p for name, p in params.items() if name in trainable(params)]
    assert teacher and not any(p.requires_grad for p in teacher)
    assert all(p.requires_grad for p in trained)
    for result in ddp_run:
        assert result['reduced_tensors'] == len(trained)
        assert result['reduced_bytes'] == sum(p.numel() * p.element_size()
                                              for p in trained)


def test_no_broadcast_into_the_teacher_per_step(ddp_run):
    """Rank 1 raised its teacher's BatchNorm counter after DDP was built;
    a per-step buffer broadcast from rank 0 would have reset it."""
    assert ddp_run[0]['counts'] == [7] * STEPS
    assert ddp_run[1]['counts'] == [8] * STEPS


def test_ddp_keeps_the_frozen_teacher_bit_identical(ddp_run, teacher_ckpt):
    for result in ddp_run:
        assert_equal_states(result['teacher'], teacher_ckpt[1])


def test_teacher_stays_in_eval_after_sync_bn_conversion(teacher_ckpt):
    """mmengine's sync_bn conversion (Runner.wrap_model, before DDP) makes
    new BatchNorm layers in train mode; the step must still run the frozen
    teacher in eval mode. (DDP refuses SyncBatchNorm on CPU, so this is
    the part a CPU host can check.)"""
    model = convert_sync_batchnorm(build_ddp_model(teacher_ckpt[0]).train())
    data = model.data_preprocessor(fake_batch(4), training=True)
    model(**data, mode='loss')
    assert_equal_states(teacher_part(model.state_dict()), teacher_ckpt[1])
