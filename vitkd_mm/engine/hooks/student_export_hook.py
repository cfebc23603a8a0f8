import os.path as osp

import torch
from mmengine.hooks import EMAHook, Hook
from mmengine.model import is_model_wrapper

from vitkd_mm.registry import HOOKS
from vitkd_mm.utils import student_checkpoint


@HOOKS.register_module()
class StudentExportHook(Hook):
    """Write a plain student checkpoint when training ends.

    The file holds only the student's weights (keys without
    ``architecture.``), loadable with ``strict=True`` by a stock mmpretrain
    config or an mmdet backbone ``init_cfg``. With an ``EMAHook`` (the
    DeiT-B recipe) the averaged weights are written, as validation uses them
    and as the ``state_dict`` of mmengine's checkpoints holds them.

    Args:
        filename (str): Name of the file in the work dir. Defaults to
            ``'student.pth'``.

    Examples:
        >>> custom_hooks = [dict(type='vitkd_mm.StudentExportHook')]
    """

    priority = 'VERY_LOW'

    def __init__(self, filename: str = 'student.pth') -> None:
        self.filename = filename

    def after_train(self, runner) -> None:
        if runner.rank != 0:
            return
        ema_hooks = [h for h in runner.hooks if isinstance(h, EMAHook)]
        if ema_hooks:
            model = ema_hooks[0].ema_model.module
        else:
            model = runner.model.module if is_model_wrapper(
                runner.model) else runner.model
        checkpoint = student_checkpoint(
            dict(
                state_dict=model.state_dict(),
                meta=dict(epoch=runner.epoch, iter=runner.iter)))
        path = osp.join(runner.work_dir, self.filename)
        torch.save(checkpoint, path)
        runner.logger.info(f'Student checkpoint written to {path}'
                           f'{" (EMA weights)" if ema_hooks else ""}')
