import copy
from typing import Dict, List, Optional, Union

from mmengine.evaluator import Evaluator
from mmengine.runner import ValLoop
from mmengine.runner.loops import _parse_losses
from torch.utils.data import DataLoader

from vitkd_mm.registry import LOOPS
from .teacher_evaluation import (distillation_model, evaluate_teacher,
                                 knn_bank_loader)

#: Runtime-info key of the cached teacher metrics (saved in checkpoints).
TEACHER_METRICS_KEY = 'vitkd_mm.teacher_metrics'


@LOOPS.register_module()
class SingleTeacherDistillValLoop(ValLoop):
    """Validate the student, and report the frozen teacher's quality too.

    The student is validated as by mmengine's ``ValLoop``. The teacher is
    evaluated once per run (it is frozen), through exactly the path
    training feeds it (the student's data preprocessor, ``teacher_input``,
    ``teacher_precision``; see :func:`evaluate_teacher`), and its metrics
    are logged beside the student's at every validation:
    ``teacher/accuracy/top1`` for a classifier teacher,
    ``teacher/knn/accuracy/top1`` for a headless one (DINOv2), scored by a
    weighted k-NN of its pooled features over ``knn.num_train`` training
    images (seeded, with the validation pipeline). The result is kept in
    the message hub's runtime info, which checkpoints save, so ``--resume``
    from a checkpoint written after a validation does not evaluate it again.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The validation dataloader.
        evaluator (Evaluator | dict | list): The validation evaluator; the
            teacher gets a copy of its own.
        fp16 (bool): As ``ValLoop``. Defaults to False.
        knn (dict, optional): ``num_train`` (default 10000), ``k``
            (default 20) and ``temperature`` (default 0.07) of the k-NN of
            a headless teacher.
        evaluate_teacher (bool): False validates the student alone, as
            ``ValLoop``. Defaults to True.

    Examples:
        >>> val_cfg = dict(type='vitkd_mm.SingleTeacherDistillValLoop')
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Evaluator, Dict, List],
                 fp16: bool = False,
                 knn: Optional[dict] = None,
                 evaluate_teacher: bool = True) -> None:
        teacher_evaluator = copy.deepcopy(evaluator)
        super().__init__(runner, dataloader, evaluator, fp16)
        if not isinstance(teacher_evaluator, Evaluator):
            teacher_evaluator = runner.build_evaluator(teacher_evaluator)
        teacher_evaluator.dataset_meta = self.evaluator.dataset_meta
        self.teacher_evaluator = teacher_evaluator
        self.knn = dict(num_train=10000, k=20, temperature=0.07)
        unknown = set(knn or {}) - set(self.knn)
        if unknown:
            raise KeyError(f'val_cfg.knn has unknown key(s) {sorted(unknown)}'
                           f'; valid keys: {", ".join(self.knn)}.')
        self.knn.update(knn or {})
        self.evaluate_teacher = evaluate_teacher

    def run(self) -> dict:
        """Validate the student; add the teacher's (cached) metrics."""
        self.runner.call_hook('before_val')
        self.runner.call_hook('before_val_epoch')
        self.runner.model.eval()
        self.val_loss.clear()
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        if self.val_loss:
            metrics.update(_parse_losses(self.val_loss, 'val'))
        if self.evaluate_teacher:
            metrics.update(self.teacher_metrics())
        self.runner.call_hook('after_val_epoch', metrics=metrics)
        self.runner.call_hook('after_val')
        return metrics

    def teacher_metrics(self) -> dict:
        """The teacher's metrics, evaluated on the first call of a run."""
        hub = self.runner.message_hub
        metrics = hub.get_info(TEACHER_METRICS_KEY)
        if metrics is None:
            model = distillation_model(
                self.runner.model, 'val_cfg.type='
                'SingleTeacherDistillValLoop')
            bank_loader = None
            if getattr(model.teacher, 'head', None) is None:
                bank_loader = knn_bank_loader(self.runner.cfg,
                                              self.knn['num_train'],
                                              self.dataloader.batch_size,
                                              self.dataloader.collate_fn)
            knn = dict(k=self.knn['k'], temperature=self.knn['temperature'])
            metrics = evaluate_teacher(model, self.dataloader,
                                       self.teacher_evaluator,
                                       len(self.dataloader.dataset),
                                       bank_loader, knn)
            hub.update_info(TEACHER_METRICS_KEY, metrics)
        return dict(metrics)
