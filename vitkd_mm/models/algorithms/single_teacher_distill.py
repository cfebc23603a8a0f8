from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.device import get_device
from mmengine.logging import MessageHub, print_log
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import nn

from vitkd_mm.registry import MODELS
from ..distillers import build_distiller
from ..distillers.vit_layout import vit_backbone
from .teacher_checkpoint import load_teacher_checkpoint
from .teacher_input import build_teacher_input, describe_teacher_input
from .teacher_precision import TeacherPrecision


def _prefixed(losses: dict, prefix: str) -> dict:
    return {f'{prefix}.{key}': value for key, value in losses.items()}


@MODELS.register_module()
class SingleTeacherDistill(BaseModel):
    """Distil a student from one frozen teacher, MMRazor style.

    Student and teacher are stock mmpretrain/mmdet models; the distiller
    records their features with hooks and computes the distillation losses.
    The teacher is frozen, stays in eval mode through every ``train()``
    call and is put in it again at every step (mmengine's ``sync_bn``
    conversion replaces its BatchNorm layers by new ones in train mode),
    runs under ``no_grad`` and only as far as the recorded values the
    losses read (no loss of its own): its recorder manager stops the
    forward once they exist. ``predict`` and ``tensor`` modes run the
    student alone. A training step whose loss terms are not all finite is
    stopped before the optimizer touches the weights, with an error naming
    the terms and the iteration.

    Loss keys: the student's own losses as ``student.<key>``, distillation
    losses as ``distill.<loss name>``.

    Args:
        architecture (dict | nn.Module): The student model.
        teacher (dict | nn.Module): The teacher model.
        distiller (dict): Config of the distiller, built in the ``vitkd_mm``
            scope, e.g. ``dict(type='ConfigurableDistiller', ...)``.
        teacher_ckpt (str, optional): Teacher checkpoint (path or URL), with
            or without a ``state_dict`` or ``model`` wrapper (``module.``
            prefixes allowed), loaded by
            :func:`~.teacher_checkpoint.load_teacher_checkpoint`. None
            leaves the teacher as built (a warning, unless it is trainable
            or has a ``Pretrained`` init_cfg). Defaults to None.
        teacher_ckpt_strict (bool): Refuse a ``teacher_ckpt`` whose keys or
            shapes are not exactly the teacher's (the error lists the
            missing, unexpected and mismatched keys). False loads what fits
            (at least one key), warns with the rest, and first runs the
            teacher's own ``init_weights()`` so what the file lacks is
            initialised, not random. Defaults to True.
        teacher_ckpt_ignore_keys (Sequence[str]): ``fnmatch`` patterns of
            keys a published ``teacher_ckpt`` carries that the teacher has
            no use for, e.g. ``['backbone.mask_token']`` (DINOv2); logged
            at load, a pattern matching nothing is a warning. Defaults to
            ().
        teacher_trainable (bool): Train the teacher too, on its own loss
            (logged as ``teacher.*``; online distillation). Defaults to
            False.
        teacher_precision (str): ``'fp32'``, ``'bf16'`` or ``'fp16'`` (CUDA
            only): the precision of the frozen teacher's forward, whose
            records reach connectors and losses in the student's dtype
            (see :class:`TeacherPrecision`). Checked at build time against
            the device mmengine will use. Defaults to ``'fp32'``.
        calculate_student_loss (bool): Add the student's own losses. False
            runs the student in ``tensor`` mode, so no student recorder may
            read a loss module (such as the labels NKD reads from
            ``head.loss_module``): a build error. False with the student's
            ``head=None`` and feature terms only is label-free
            distillation: batches without labels (``CustomDataset(
            with_label=False)``) then train; a batch without labels while
            this, ``teacher_trainable`` or Mixup/CutMix would read them is
            an error naming the key. Defaults to True.
        check_finite (bool): Check every loss term before the optimizer
            step; a NaN or inf raises a ``FloatingPointError`` naming the
            terms and the iteration, with the weights untouched. It reads
            the losses on the host once per step (a device sync on GPU,
            which logging does right after the step anyway). Defaults to
            True.
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
            student's batch is converted to it. Defaults to None: the
            normalisation of the teacher's own ``data_preprocessor`` if it
            has one, else the student's batch unchanged.
        init_cfg (dict, optional): Initialisation config.

    State-dict prefixes: ``architecture.``, ``teacher.``, ``distiller.``.
    """

    def __init__(self,
                 architecture: Union[dict, nn.Module],
                 teacher: Union[dict, nn.Module],
                 distiller: dict,
                 teacher_ckpt: Optional[str] = None,
                 teacher_ckpt_strict: bool = True,
                 teacher_ckpt_ignore_keys: Sequence[str] = (),
                 teacher_trainable: bool = False,
                 teacher_precision: str = 'fp32',
                 calculate_student_loss: bool = True,
                 check_finite: bool = True,
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
        self.teacher_trainable = teacher_trainable
        #: How ``teacher_ckpt`` fitted (a ``KeyReport``), None without one.
        self.teacher_ckpt_report = None
        if teacher_ckpt is not None:
            self.teacher_ckpt_report = load_teacher_checkpoint(
                self.teacher, teacher_ckpt, teacher_ckpt_strict,
                teacher_ckpt_ignore_keys)
        elif not teacher_trainable and not _has_pretrained_init(self.teacher):
            print_log(
                'model.teacher_ckpt is not set and the teacher has no '
                "Pretrained init_cfg: distilling from a randomly "
                'initialised frozen teacher. Set teacher_ckpt to its '
                'weights.', 'current', 30)
        if not teacher_trainable:
            self.teacher.requires_grad_(False)
        self.teacher_precision = TeacherPrecision(teacher_precision,
                                                  get_device(),
                                                  teacher_trainable)
        self.calculate_student_loss = calculate_student_loss
        self.check_finite = check_finite

        self.teacher_input = build_teacher_input(
            teacher_input, self.data_preprocessor,
            self.teacher.data_preprocessor)
        print_log(
            f'Teacher input: {describe_teacher_input(self.teacher_input)}, '
            f'{teacher_precision}.', 'current')
        _warn_off_resolution(self.teacher, self.architecture,
                             self.teacher_input)
        self.distiller = build_distiller(distiller, self.architecture,
                                         self.teacher)
        self.distiller.prepare_from_student(self.architecture)
        self.distiller.prepare_from_teacher(self.teacher)
        if not calculate_student_loss:
            _check_tensor_mode_records(self.distiller.student_recorders)
            _warn_unused_head(self.architecture,
                              self.distiller.student_recorders)
        self.train()

    @staticmethod
    def _build(model: Union[dict, nn.Module]) -> nn.Module:
        if isinstance(model, nn.Module):
            return model
        if isinstance(model, dict):
            return MODELS.build(model)
        raise TypeError('architecture and teacher must be a config dict or '
                        f'an nn.Module, got {type(model).__name__}.')

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

    def parse_losses(self, losses: dict):
        """mmengine's ``parse_losses``, refusing non-finite loss terms (see
        ``check_finite``). Both ``train_step`` and the DDP wrapper's call it
        between the forward and the optimizer step."""
        parsed_losses, log_vars = super().parse_losses(losses)
        if self.check_finite:
            check_finite_losses(log_vars)
        return parsed_losses, log_vars

    def loss(self, inputs: torch.Tensor,
             data_samples: Optional[List[BaseDataElement]]) -> dict:
        """Student losses (``student.*``) and distillation losses
        (``distill.*``) of one batch."""
        if not is_labelled(data_samples):
            self._refuse_label_readers()
        losses = {}
        teacher_inputs = self.teacher_input(inputs)
        if self.teacher_trainable:
            with self.distiller.record_teacher(stop_early=False):
                teacher_losses = self.teacher(
                    teacher_inputs, data_samples, mode='loss')
            losses.update(_prefixed(teacher_losses, 'teacher'))
        else:
            # Also at every step: modules swapped in after build, such as
            # mmengine's sync_bn conversion, start in train mode.
            self.teacher.train(False)
            # Stopped as soon as the values the losses read exist; records
            # in the student's dtype whatever the teacher's precision.
            student_dtype = next(self.architecture.parameters()).dtype
            with self.distiller.record_teacher(cast_to=student_dtype), \
                    torch.no_grad(), \
                    self.teacher_precision.autocast(inputs.device.type):
                self.teacher(teacher_inputs, data_samples, mode='tensor')

        student_recorders = self.distiller.student_recorders
        with student_recorders:
            if self.calculate_student_loss:
                student_losses = self.architecture(
                    inputs, data_samples, mode='loss')
                losses.update(_prefixed(student_losses, 'student'))
            else:
                self.architecture(inputs, data_samples, mode='tensor')
        student_recorders.check_complete()

        losses.update(
            _prefixed(self.distiller.compute_distill_losses(), 'distill'))
        return losses

    def _refuse_label_readers(self) -> None:
        """Raise, naming the config keys, if anything would read the labels
        of a batch that has none (a label-free dataset)."""
        readers = []
        if self.calculate_student_loss:
            readers.append('model.calculate_student_loss=True (the '
                           "student's own loss reads them)")
        if self.teacher_trainable:
            readers.append('model.teacher_trainable=True (the teacher '
                           'trains on its own loss)')
        if getattr(self.data_preprocessor, 'batch_augments', None):
            readers.append(
                "the student's batch augments (Mixup/CutMix, model."
                'architecture.train_cfg.augments) mix labels: mmpretrain '
                'skips them without labels, so they would silently mix '
                'nothing; set model.architecture.train_cfg=None')
        if readers:
            raise ValueError(
                'This batch has no labels (no gt_* field in its data '
                'samples: a label-free dataset such as CustomDataset('
                'with_label=False)), but ' + '; '.join(readers) + '. '
                'Label-free distillation trains on feature terms only '
                '(ViTKD mimic/generation; NKD reads labels): see '
                'configs/vitkd/deit-t_vitkd-pretrain_dinov2-s.py.')

    @torch.no_grad()
    def teacher_forward(self,
                        inputs: torch.Tensor,
                        data_samples: Optional[List[BaseDataElement]] = None,
                        mode: str = 'predict'):
        """The teacher on the student's preprocessed batch, as training runs
        it (``teacher_input``, then ``teacher_precision``), in ``mode``
        ('predict' or 'tensor'); for evaluating the teacher."""
        inputs = self.teacher_input(inputs)
        with self.teacher_precision.autocast(inputs.device.type):
            return self.teacher(inputs, data_samples, mode=mode)


def _warn_off_resolution(teacher: nn.Module, student: nn.Module,
                         teacher_input: nn.Module) -> None:
    """Warn when a ViT teacher will run on another input size than it is
    built for: its position embedding is then interpolated at every
    forward, and a teacher off its training resolution teaches worse
    (cls_KD#5: a 384 px teacher fed 224 px made DeiT-S worse than alone)."""
    backbones = [vit_backbone(teacher), vit_backbone(student)]
    if None in backbones:
        return
    built, student_size = (b.patch_embed.init_input_size for b in backbones)
    size = getattr(teacher_input, 'size', None)
    runs = tuple(size or student_size)
    if runs != tuple(built):
        where = ('teacher_input.size' if size else
                 "the student's input size; no teacher_input.size")
        print_log(
            f'The teacher is built for {tuple(built)} inputs '
            f'(model.teacher.backbone.img_size) but will run on {runs} '
            f'({where}): its position embedding is interpolated at every '
            'forward, and a teacher run off the resolution it was trained '
            'at can teach worse. If it was trained at that size, set '
            f'teacher_input.size={tuple(built)}.', 'current', 30)


def _has_pretrained_init(model: nn.Module) -> bool:
    """Whether ``model`` or a submodule loads weights in ``init_weights``."""
    for module in model.modules():
        cfgs = getattr(module, 'init_cfg', None) or []
        for cfg in cfgs if isinstance(cfgs, list) else [cfgs]:
            if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
                return True
    return False


def _check_tensor_mode_records(recorders) -> None:
    """Refuse student recorders that only a loss computation feeds.

    Without the student's own loss the student runs in ``tensor`` mode,
    which never calls its loss modules (e.g. ``head.loss_module``, whose
    inputs are the labels NKD reads): such a recorder would record nothing.
    """
    for name, recorder in recorders.recorders.items():
        if any('loss' in part for part in recorder.source.split('.')):
            raise ValueError(
                f'calculate_student_loss=False runs the student in tensor '
                f'mode, which never calls {recorder.source!r}, so '
                f'distiller.{recorders.key}.{name} would record nothing '
                '(e.g. the labels of distiller.nkd). Set '
                'calculate_student_loss=True, or drop the losses that read '
                f'{name}.')


def is_labelled(data_samples: Optional[List[BaseDataElement]]) -> bool:
    """Whether every data sample has a ground truth (a ``gt_*`` field:
    ``gt_label``, ``gt_score``, mmdet's ``gt_instances``), found by field
    name without reading it.

    Examples:
        >>> from mmpretrain.structures import DataSample
        >>> is_labelled([DataSample().set_gt_label(3)]), is_labelled(
        ...     [DataSample()]), is_labelled(None)
        (True, False, False)
    """
    return data_samples is not None and all(
        any(key.startswith('gt_') for key in sample.keys())
        for sample in data_samples)


def _warn_unused_head(student: nn.Module, recorders) -> None:
    """Warn when a student head runs in tensor mode that no term reads."""
    if getattr(student, 'head', None) is None:
        return
    if any(
            recorder.source.split('.')[0] == 'head'
            for recorder in recorders.recorders.values()):
        return
    print_log(
        'calculate_student_loss=False and no distillation term reads the '
        "student's head: it runs at every step without a gradient (DDP "
        'refuses parameters without one) and is exported untrained. For '
        'label-free distillation set model.architecture.head=None.', 'current',
        30)


def check_finite_losses(log_vars: Dict[str, torch.Tensor]) -> None:
    """Raise a FloatingPointError naming the non-finite loss terms.

    One host read of a stacked flag (a single device sync); the names are
    looked up only when a term is not finite.

    Args:
        log_vars (dict): ``{name: scalar tensor}`` from ``parse_losses``.
    """
    values = torch.stack(
        [value.detach().float() for value in log_vars.values()])  # K
    if bool(torch.isfinite(values).all()):
        return
    bad = [
        f'{name}={value.item()}' for name, value in log_vars.items()
        if not torch.isfinite(value).all()
    ]
    hub = MessageHub.get_current_instance()
    iteration = hub.get_info('iter')
    where = '' if iteration is None else f' at iteration {iteration + 1}'
    raise FloatingPointError(
        f'Non-finite loss{where}: {", ".join(bad)}. The step was stopped '
        'before the optimizer touched the weights. Look for NaN/inf in the '
        'inputs of this batch, a too high learning rate or, in fp16, an '
        'overflow; set check_finite=False to train on anyway.')
