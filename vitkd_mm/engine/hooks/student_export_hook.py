import os
import os.path as osp

import mmengine
import torch
from mmengine.hooks import EMAHook, Hook
from mmengine.model import is_model_wrapper

from vitkd_mm.registry import HOOKS
from vitkd_mm.utils import student_checkpoint, student_state_dict


def _model(runner):
    return runner.model.module if is_model_wrapper(
        runner.model) else runner.model


@HOOKS.register_module()
class StudentExportHook(Hook):
    """Write a plain student checkpoint when training ends.

    The file holds only the student's weights (keys without
    ``architecture.``), loadable with ``strict=True`` by a stock mmpretrain
    config or an mmdet backbone ``init_cfg``, and the ``meta`` inference
    reads (``dataset_meta``: the class names ``mmpretrain.apis.get_model``
    and mmdet's ``init_detector`` give the model), as mmengine's epoch
    checkpoints have it. With an ``EMAHook`` (the DeiT-B recipe) the
    averaged weights are written, as validation uses them and as the
    ``state_dict`` of mmengine's checkpoints holds them.

    Before training it checks what would otherwise fail only after it: the
    model must be a distillation model (with an ``architecture``), and the
    file's folder is created (or must be writable) and the path must not be
    a folder.

    Args:
        filename (str): Path of the file, relative to the work dir (or
            absolute). Defaults to ``'student.pth'``.

    Examples:
        >>> custom_hooks = [dict(type='vitkd_mm.StudentExportHook')]
    """

    priority = 'VERY_LOW'

    def __init__(self, filename: str = 'student.pth') -> None:
        self.filename = filename

    def before_train(self, runner) -> None:
        """Refuse a model without a student and an unwritable path."""
        model = _model(runner)
        try:
            student_state_dict(model.state_dict())
        except KeyError:
            raise ValueError(
                'custom_hooks: StudentExportHook exports the student of a '
                f'distillation model, but the model '
                f'({type(model).__name__}) has no architecture.* weights. '
                'Remove the hook from this config.') from None
        if runner.rank != 0:
            return
        path = osp.join(runner.work_dir, self.filename)
        if osp.isdir(path):
            raise ValueError(f'StudentExportHook: filename={self.filename!r} '
                             f'is the folder {path}; give a file name.')
        folder = osp.dirname(osp.abspath(path))
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as error:
            raise ValueError(f'StudentExportHook: cannot create the folder of '
                             f'filename={self.filename!r}: {error}.') from None
        if not os.access(folder, os.W_OK):
            raise ValueError(f'StudentExportHook: filename={self.filename!r}:'
                             f' cannot write to the folder {folder}.')

    def after_train(self, runner) -> None:
        if runner.rank != 0:
            return
        ema_hooks = [h for h in runner.hooks if isinstance(h, EMAHook)]
        model = ema_hooks[0].ema_model.module if ema_hooks else _model(runner)
        meta = dict(
            epoch=runner.epoch,
            iter=runner.iter,
            seed=runner.seed,
            experiment_name=runner.experiment_name,
            mmengine_version=mmengine.__version__)
        dataset = getattr(runner.train_dataloader, 'dataset', None)
        if hasattr(dataset, 'metainfo'):
            meta['dataset_meta'] = dataset.metainfo
        checkpoint = student_checkpoint(
            dict(state_dict=model.state_dict(), meta=meta))
        path = osp.join(runner.work_dir, self.filename)
        torch.save(checkpoint, path)
        runner.logger.info(f'Student checkpoint written to {path}'
                           f'{" (EMA weights)" if ema_hooks else ""}')
