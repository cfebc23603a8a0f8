from typing import Dict, List, Optional, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.runner.checkpoint import _load_checkpoint
from mmengine.structures import BaseDataElement
from torch import nn

from vitkd_mm.registry import MODELS
from ..distillers import build_distiller
from ..recorders import BaseRecorder, ModuleRecorder
from .teacher_input import build_teacher_input


def _prefixed(losses: dict, prefix: str) -> dict:
    return {f'{prefix}.{key}': value for key, value in losses.items()}


class _TeacherRecordsReady(Exception):
    """Raised inside the teacher's forward once every needed value exists."""


class TeacherEarlyExit:
    """Stop the teacher's forward as soon as the losses have their inputs.

    A forward hook sits on the source module of each teacher recorder the
    losses read; once every such recorder holds as many values as the losses
    need, it raises, and :meth:`run` swallows that. A ViTKD-only config thus
    never runs the teacher's classification head, and a detector teacher
    stops after its backbone. If a needed recorder is not a module recorder
    (a method patch), the teacher runs in full.

    Args:
        teacher (nn.Module): The teacher model.
        demands (dict): ``{recorder: number of calls needed}``, with the
            recorder objects as keys.
    """

    def __init__(self, teacher: nn.Module,
                 demands: Dict[BaseRecorder, int]) -> None:
        self.demands = demands
        self.active = False
        if bool(demands) and all(
                isinstance(recorder, ModuleRecorder) for recorder in demands):
            for recorder in demands:
                teacher.get_submodule(recorder.source).register_forward_hook(
                    self._check)

    def _check(self, module, inputs, outputs):
        if self.active and all(
                len(recorder.data_buffer) >= count
                for recorder, count in self.demands.items()):
            raise _TeacherRecordsReady

    def run(self, teacher: nn.Module, *args, **kwargs) -> None:
        """Call ``teacher(*args, **kwargs)``, stopping early if it can.

        Outside this call the hooks do nothing.
        """
        self.active = True
        try:
            teacher(*args, **kwargs)
        except _TeacherRecordsReady:
            pass
        finally:
            self.active = False


@MODELS.register_module()
class SingleTeacherDistill(BaseModel):
    """Distil a student from one frozen teacher, MMRazor style.

    Student and teacher are stock mmpretrain/mmdet models; the distiller
    records their features with hooks and computes the distillation losses.
    The teacher is frozen, stays in eval mode through every ``train()``
    call, runs under ``no_grad`` and only as far as the recorded values the
    losses read (no loss of its own). ``predict`` and ``tensor`` modes run
    the student alone.

    Loss keys: the student's own losses as ``student.<key>``, distillation
    losses as ``distill.<loss name>``.

    Args:
        architecture (dict | nn.Module): The student model.
        teacher (dict | nn.Module): The teacher model.
        distiller (dict): Config of the distiller, built in the ``vitkd_mm``
            scope, e.g. ``dict(type='ConfigurableDistiller', ...)``.
        teacher_ckpt (str, optional): Teacher checkpoint (path or URL), with
            or without a ``state_dict`` wrapper. A checkpoint that matches
            no teacher key is an error. Defaults to None.
        teacher_trainable (bool): Train the teacher too, on its own loss
            (logged as ``teacher.*``; online distillation). Defaults to
            False.
        calculate_student_loss (bool): Add the student's own losses.
            Defaults to True.
        data_preprocessor (dict | nn.Module, optional): The model always
            preprocesses with the student's data preprocessor, so batch
            augments (Mixup/CutMix, from the student's ``train_cfg``) run
            once and both networks see the same batch. A dict (such as the
            top-level ``data_preprocessor`` of mmpretrain's dataset bases,
            which the Runner passes here) becomes the student's
            ``data_preprocessor`` unless the student config has its own.
            A module is used as is. Defaults to None.
        teacher_input (dict, optional): What the teacher was trained on,
            when it differs from the student: ``mean``, ``std``, ``to_rgb``
            and/or ``size`` (see :func:`build_teacher_input`); the
            student's batch is converted to it. Defaults to None (the
            teacher gets the student's batch).
        init_cfg (dict, optional): Initialisation config.

    State-dict prefixes: ``architecture.``, ``teacher.``, ``distiller.``.
    """

    def __init__(self,
                 architecture: Union[dict, nn.Module],
                 teacher: Union[dict, nn.Module],
                 distiller: dict,
                 teacher_ckpt: Optional[str] = None,
                 teacher_trainable: bool = False,
                 calculate_student_loss: bool = True,
                 data_preprocessor: Union[dict, nn.Module, None] = None,
                 teacher_input: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if isinstance(data_preprocessor, dict):
            if not isinstance(architecture, dict):
                raise TypeError('data_preprocessor as a dict needs '
                                'architecture as a dict to merge into.')
            architecture = dict(architecture)
            architecture.setdefault('data_preprocessor', data_preprocessor)
        own_preprocessor = isinstance(data_preprocessor, nn.Module)
        super().__init__(
            data_preprocessor=data_preprocessor if own_preprocessor else None,
            init_cfg=init_cfg)
        self.architecture = self._build(architecture)
        if not own_preprocessor:
            self.data_preprocessor = self.architecture.data_preprocessor
        self.teacher = self._build(teacher)
        if teacher_ckpt is not None:
            self.load_teacher_checkpoint(teacher_ckpt)
        self.teacher_trainable = teacher_trainable
        if not teacher_trainable:
            self.teacher.requires_grad_(False)
        self.calculate_student_loss = calculate_student_loss

        self.teacher_input = build_teacher_input(
            teacher_input, self.data_preprocessor,
            self.teacher.data_preprocessor)
        self.distiller = build_distiller(distiller, self.architecture,
                                         self.teacher)
        self.distiller.prepare_from_student(self.architecture)
        self.distiller.prepare_from_teacher(self.teacher)
        self.teacher_early_exit = TeacherEarlyExit(self.teacher, {
            self.distiller.teacher_recorders.get_recorder(name): count
            for name, count in self.distiller.teacher_demands().items()
        })
        self.train()

    @staticmethod
    def _build(model: Union[dict, nn.Module]) -> nn.Module:
        if isinstance(model, nn.Module):
            return model
        if isinstance(model, dict):
            return MODELS.build(model)
        raise TypeError('architecture and teacher must be a config dict or '
                        f'an nn.Module, got {type(model).__name__}.')

    def load_teacher_checkpoint(self, filename: str) -> None:
        """Load teacher weights and report missing and unexpected keys.

        Raises:
            ValueError: If no key of the checkpoint matches the teacher.
        """
        checkpoint = _load_checkpoint(filename, map_location='cpu')
        state_dict = checkpoint.get('state_dict', checkpoint)
        state_dict = {
            key[len('module.'):] if key.startswith('module.') else key: value
            for key, value in state_dict.items()
        }
        expected = self.teacher.state_dict()
        matched = [key for key in state_dict if key in expected]
        if not matched:
            raise ValueError(
                f'teacher_ckpt={filename!r} matches no key of the teacher '
                f'({type(self.teacher).__name__}). Checkpoint keys start '
                f'with {sorted(state_dict)[:3]}, teacher keys with '
                f'{sorted(expected)[:3]}.')
        result = self.teacher.load_state_dict(state_dict, strict=False)
        print_log(
            f'Loaded teacher_ckpt {filename}: {len(matched)} keys matched, '
            f'missing keys: {result.missing_keys or "none"}, unexpected '
            f'keys: {result.unexpected_keys or "none"}', 'current')
        # The runner's init_weights() must not re-initialise the teacher.
        self.teacher._is_init = True

    def train(self, mode: bool = True) -> 'SingleTeacherDistill':
        """Set train mode; a frozen teacher always stays in eval mode."""
        super().train(mode)
        if not self.teacher_trainable:
            self.teacher.train(False)
        return self

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode in ('predict', 'tensor'):
            return self.architecture(inputs, data_samples, mode=mode)
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, '
                           'predict and tensor mode')

    def loss(self, inputs: torch.Tensor,
             data_samples: Optional[List[BaseDataElement]]) -> dict:
        """Student losses (``student.*``) and distillation losses
        (``distill.*``) of one batch."""
        losses = {}
        teacher_inputs = self.teacher_input(inputs)
        with self.distiller.teacher_recorders:
            if self.teacher_trainable:
                teacher_losses = self.teacher(
                    teacher_inputs, data_samples, mode='loss')
                losses.update(_prefixed(teacher_losses, 'teacher'))
            else:
                with torch.no_grad():
                    self.teacher_early_exit.run(
                        self.teacher, teacher_inputs, data_samples,
                        mode='tensor')

        with self.distiller.student_recorders:
            if self.calculate_student_loss:
                student_losses = self.architecture(
                    inputs, data_samples, mode='loss')
                losses.update(_prefixed(student_losses, 'student'))
            else:
                self.architecture(inputs, data_samples, mode='tensor')

        losses.update(
            _prefixed(self.distiller.compute_distill_losses(), 'distill'))
        return losses
