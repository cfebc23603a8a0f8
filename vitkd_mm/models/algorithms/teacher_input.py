"""The student's preprocessed batch, converted to what the teacher expects."""
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..utils.tokens import to_hw

_KEYS = ('mean', 'std', 'to_rgb', 'size', 'mode')
#: ``F.interpolate`` modes for images, and those that take
#: ``align_corners``.
RESIZE_MODES = ('nearest', 'nearest-exact', 'bilinear', 'bicubic', 'area')
_ALIGNABLE = ('bilinear', 'bicubic')


def _normalisation(preprocessor: nn.Module) -> Optional[dict]:
    """Mean, std (0-255 scale) and RGB flag of an image data preprocessor,
    or None if it does not normalise (mmpretrain's ``ClsDataPreprocessor``,
    mmengine's ``ImgDataPreprocessor`` and its mmdet subclasses)."""
    if not getattr(preprocessor, '_enable_normalize', False):
        return None
    to_rgb = getattr(preprocessor, 'to_rgb',
                     getattr(preprocessor, '_channel_conversion', False))
    return dict(
        mean=preprocessor.mean.flatten().tolist(),
        std=preprocessor.std.flatten().tolist(),
        to_rgb=bool(to_rgb))


class TeacherInput(nn.Module):
    """Re-normalise (and resize) the student's input batch for the teacher.

    The batch is the student's, after its data preprocessor and batch
    augments (Mixup/CutMix drawn once): ``x = (raw - mean_s) / std_s``, in
    RGB order if ``to_rgb_s``. The teacher gets
    ``(flip(x * std_s + mean_s) - mean_t) / std_t``, with ``flip`` reversing
    the channels when the two orders differ (3 channels only), resized to
    ``size`` if given (``F.interpolate``, ``align_corners=False``; resizing
    commutes with the per-channel affine map, its weights summing to 1).

    Args:
        student (dict): ``mean``, ``std`` (per channel, 0-255) and ``to_rgb``
            of the student's normalisation.
        teacher (dict): The same for the teacher.
        size (int | tuple[int, int], optional): Teacher input (h, w).
            Defaults to None (the student's size).
        mode (str): Interpolation mode of the resize, one of
            :data:`RESIZE_MODES`. Defaults to ``'bilinear'``.

    Raises:
        ValueError: Naming the ``teacher_input`` key: a ``std`` of another
            length than ``mean`` or with a zero, channel counts that
            differ, an unknown ``mode``, a ``size`` that is no positive
            int or (h, w) pair; at the first batch, a batch whose channels
            differ from the teacher's ``mean``.

    Shapes:
        - x: (B, C, H, W)
        - output: (B, C, h, w), (h, w) = ``size`` or (H, W)

    Examples:
        >>> import torch
        >>> adapt = TeacherInput(
        ...     dict(mean=[127.5], std=[127.5], to_rgb=False),
        ...     dict(mean=[0.], std=[255.], to_rgb=False), size=4)
        >>> adapt(torch.zeros(1, 1, 8, 8)).flatten()[:2]
        tensor([0.5000, 0.5000])
    """

    def __init__(self,
                 student: dict,
                 teacher: dict,
                 size: Union[int, Sequence[int], None] = None,
                 mode: str = 'bilinear') -> None:
        super().__init__()
        for side, norm in (('student', student), ('teacher', teacher)):
            mean, std = _per_channel(norm['mean']), _per_channel(norm['std'])
            if std.numel() != mean.numel() or not bool(std.ne(0).all()):
                raise ValueError(
                    f'teacher_input: the {side}\'s std {list(norm["std"])} '
                    f'must have one non-zero value per value of its mean '
                    f'{list(norm["mean"])}.')
            self.register_buffer(f'{side}_mean', mean, persistent=False)
            self.register_buffer(f'{side}_std', std, persistent=False)
        channels = {self.student_mean.numel(), self.teacher_mean.numel()}
        if len(channels - {1}) > 1:  # a single value broadcasts
            raise ValueError(
                f'teacher_input.mean has {self.teacher_mean.numel()} '
                f'channel(s), the student\'s {self.student_mean.numel()}.')
        if mode not in RESIZE_MODES:
            raise ValueError(f'teacher_input.mode must be one of '
                             f'{", ".join(RESIZE_MODES)}; got {mode!r}.')
        self.flip = bool(student['to_rgb']) != bool(teacher['to_rgb'])
        self.size = None if size is None else to_hw(size, 'teacher_input.size')
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convert the student's batch (B, C, H, W) for the teacher."""
        channels = self.teacher_mean.numel()
        if channels > 1 and x.size(1) != channels:
            raise ValueError(
                f'teacher_input: the batch has {x.size(1)} channel(s), the '
                f'teacher\'s mean/std {channels}: the teacher would get a '
                'broadcast batch. Give teacher_input.mean/std one value '
                'per channel of the batch.')
        x = x * self.student_std + self.student_mean  # B, C, H, W; 0-255
        if self.flip and x.size(1) == 3:
            x = x.flip(1)
        x = (x - self.teacher_mean) / self.teacher_std
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            align = dict(align_corners=False) if self.mode in _ALIGNABLE \
                else {}
            x = F.interpolate(x, size=self.size, mode=self.mode, **align)
        return x

    def extra_repr(self) -> str:
        return describe_teacher_input(self)


def _per_channel(values: Sequence[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1)


def build_teacher_input(cfg: Optional[dict], student_preprocessor: nn.Module,
                        teacher_preprocessor: nn.Module) -> nn.Module:
    """The teacher's input conversion.

    Args:
        cfg (dict, optional): ``mean``, ``std``, ``to_rgb``, ``size``,
            ``mode`` (see :class:`TeacherInput`). Each of ``mean``, ``std``,
            ``to_rgb`` left out comes from the teacher's own
            ``data_preprocessor`` if that normalises, else from the
            student's (so ``dict(size=336)`` only resizes). None is the
            same as ``dict()``: a teacher whose own ``data_preprocessor``
            normalises gets its normalisation.
        student_preprocessor (nn.Module): The data preprocessor that made
            the batch.
        teacher_preprocessor (nn.Module): The teacher model's own.

    Returns:
        nn.Module: :class:`TeacherInput`, or ``nn.Identity`` where the
        teacher gets exactly the student's batch (same normalisation, no
        resize), so that case is bit-exact.
    """
    cfg = dict(cfg or {})
    unknown = set(cfg) - set(_KEYS)
    if unknown:
        raise KeyError(f'teacher_input has unknown key(s) {sorted(unknown)}. '
                       f'Valid keys: {", ".join(_KEYS)}.')
    student = _normalisation(student_preprocessor) or dict(
        mean=[0.], std=[1.], to_rgb=False)
    defaults = _normalisation(teacher_preprocessor) or student
    teacher = {key: cfg.get(key, defaults[key]) for key in student}
    converter = TeacherInput(
        student,
        teacher,
        size=cfg.get('size'),
        mode=cfg.get('mode', 'bilinear'))
    same = all(
        _as_list(teacher[key]) == _as_list(student[key])
        for key in ('mean', 'std')) and bool(teacher['to_rgb']) == bool(
            student['to_rgb'])
    return nn.Identity() if same and converter.size is None else converter


def _as_list(values: Union[float, Sequence[float]]) -> list:
    return [
        float(v)
        for v in (values if isinstance(values, Sequence) else [values])
    ]


def describe_teacher_input(converter: nn.Module) -> str:
    """The teacher's input path in words, for the build log.

    Examples:
        >>> describe_teacher_input(nn.Identity())
        "the student's batch unchanged"
    """
    if not isinstance(converter, TeacherInput):
        return "the student's batch unchanged"
    size = "the student's size" if converter.size is None else \
        f'{converter.size[0]} x {converter.size[1]} ({converter.mode})'
    mean, std = (converter.teacher_mean.flatten().tolist(),
                 converter.teacher_std.flatten().tolist())
    order = 'channels flipped' if converter.flip else 'channel order kept'
    return (f'size {size}, mean {[round(m, 3) for m in mean]}, std '
            f'{[round(s, 3) for s in std]}, {order}')
