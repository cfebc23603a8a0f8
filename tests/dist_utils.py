"""Helpers of the distributed tests (tests/test_tools/test_distributed.py).

``RankStateHook`` writes what each rank holds, so a test can compare the
ranks of a run that ``tools/dist_train.sh`` started; ``train_steps`` runs
optimizer steps the way mmengine's train loop does, with the generation
masks injected, in a 2-process world (tests/dist_worker.py) and in one
process alike.
"""
import os.path as osp
from contextlib import contextmanager
from unittest import mock

import torch
from mmengine.config import Config
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS, DefaultScope

from tests.utils import REPO_ROOT, fake_batch
from vitkd_mm.registry import MODELS

#: Tiny ViTKD + NKD with a BatchNorm teacher and the rank hook.
DDP_CONFIG = osp.join(REPO_ROOT, 'tests', 'configs',
                      'tiny_vitkd-nkd_bn-teacher.py')
#: The teacher's BatchNorm (in its LinearNeck).
TEACHER_BN = 'teacher.neck.norm'


def unwrap(model):
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class RankStateHook(Hook):
    """Writes ``rank<r>_<stage>.pth`` into the work dir before and after
    training, on every rank: ``iter``, ``world_size``, the model's
    ``state_dict`` and the optimizer's (before training: right after a
    resume)."""

    def before_train(self, runner) -> None:
        self._write(runner, 'before_train')

    def after_train(self, runner) -> None:
        self._write(runner, 'after_train')

    @staticmethod
    def _write(runner, stage: str) -> None:
        state = dict(
            iter=runner.iter,
            world_size=get_world_size(),
            state_dict=unwrap(runner.model).state_dict(),
            optimizer=runner.optim_wrapper.state_dict())
        torch.save(state,
                   osp.join(runner.work_dir, f'rank{get_rank()}_{stage}.pth'))


def equivalence_cfg(work_dir: str, teacher_ckpt: str) -> Config:
    """``DDP_CONFIG`` with plain SGD, for comparing worlds step by step.

    Adam divides each gradient by its own running magnitude, so float noise
    in gradients that are zero in exact arithmetic (the key bias of
    attention) would become steps of the size of the learning rate; SGD
    steps are the averaged gradients themselves.
    """
    cfg = Config.fromfile(DDP_CONFIG)
    cfg.work_dir = work_dir
    cfg.model.teacher_ckpt = teacher_ckpt
    cfg.optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))
    return cfg


def make_teacher_checkpoint(path: str) -> dict:
    """Save the teacher of ``DDP_CONFIG`` with BatchNorm statistics unlike
    a fresh init's; return its state dict."""
    cfg = Config.fromfile(DDP_CONFIG)
    torch.manual_seed(1)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        teacher = MODELS.build(cfg.model.teacher)
    norm = teacher.neck.norm
    norm.running_mean.normal_()
    norm.running_var.uniform_(0.5, 2.0)
    norm.num_batches_tracked.fill_(7)
    state_dict = teacher.state_dict()
    torch.save(dict(state_dict=state_dict), path)
    return state_dict


def trainable_state(model) -> dict:
    """Copies of the student's and the distiller's tensors."""
    return {
        key: value.detach().clone()
        for key, value in unwrap(model).state_dict().items()
        if not key.startswith('teacher.')
    }


@contextmanager
def injected_mask_noise(noise: torch.Tensor):
    """Make ``torch.rand(B, N)``, the generation connector's masking draw,
    return ``noise`` (B, N); any other ``torch.rand`` call is an error."""

    def rand(*size, **kwargs):
        assert size == tuple(noise.shape), (size, noise.shape)
        return noise.clone()

    with mock.patch('torch.rand', rand):
        yield


def global_batch(step: int, size: int, num_tokens: int = 16):
    """The data batch and the mask noise (size, num_tokens) of ``step``."""
    noise = torch.rand(
        size, num_tokens, generator=torch.Generator().manual_seed(step))
    return fake_batch(size, seed=step), noise


def train_steps(runner, steps: int, batch_size: int):
    """Run ``steps`` optimizer steps of ``runner.model`` (DDP-wrapped or
    not) as mmengine's train loop does; rank r of a world of W takes
    samples [r * batch_size, (r + 1) * batch_size) of each global batch of
    W * batch_size.

    Returns:
        list[dict]: The trainable state before the first step and after
        each step.
    """
    rank, world_size = get_rank(), get_world_size()
    part = slice(rank * batch_size, (rank + 1) * batch_size)
    optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.model.train()
    states = [trainable_state(runner.model)]
    for step in range(steps):
        batch, noise = global_batch(step, world_size * batch_size)
        batch = {key: value[part] for key, value in batch.items()}
        with injected_mask_noise(noise[part]):
            runner.model.train_step(batch, optim_wrapper)
        states.append(trainable_state(runner.model))
    return states
