"""The student's preprocessed batch, converted to what the teacher expects."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

_KEYS = ('mean', 'std', 'to_rgb', 'size', 'mode')


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
        mode (str): Interpolation mode of the resize. Defaults to
            ``'bilinear'``.

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
        for name, value in (('mean', student['mean']), ('std',
                                                        student['std'])):
            self.register_buffer(
                f'student_{name}', _per_channel(value), persistent=False)
        for name, value in (('mean', teacher['mean']), ('std',
                                                        teacher['std'])):
            self.register_buffer(
                f'teacher_{name}', _per_channel(value), persistent=False)
        channels = {self.student_mean.numel(), self.teacher_mean.numel()}
        if len(channels - {1}) > 1:  # a single value broadcasts
            raise ValueError(
                f'teacher_input.mean has {self.teacher_mean.numel()} '
                f'channel(s), the student\'s {self.student_mean.numel()}.')
        self.flip = bool(student['to_rgb']) != bool(teacher['to_rgb'])
        self.size = None if size is None else _size(size)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convert the student's batch (B, C, H, W) for the teacher."""
        x = x * self.student_std + self.student_mean  # B, C, H, W; 0-255
        if self.flip and x.size(1) == 3:
            x = x.flip(1)
        x = (x - self.teacher_mean) / self.teacher_std
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(
                x, size=self.size, mode=self.mode, align_corners=False)
        return x


def _per_channel(values: Sequence[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1)


def _size(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2 or not all(isinstance(s, int) and s > 0 for s in hw):
        raise ValueError('teacher_input.size must be a positive int or an '
                         f'(h, w) pair of them, got {size!r}.')
    return hw


def build_teacher_input(cfg: Optional[dict], student_preprocessor: nn.Module,
                        teacher_preprocessor: nn.Module) -> nn.Module:
    """The teacher's input conversion; an identity without ``cfg``.

    Args:
        cfg (dict, optional): ``mean``, ``std``, ``to_rgb``, ``size``,
            ``mode`` (see :class:`TeacherInput`). Each of ``mean``, ``std``,
            ``to_rgb`` left out comes from the teacher's own
            ``data_preprocessor`` if that normalises, else from the
            student's (so ``dict(size=336)`` only resizes).
        student_preprocessor (nn.Module): The data preprocessor that made
            the batch.
        teacher_preprocessor (nn.Module): The teacher model's own.
    """
    if cfg is None:
        return nn.Identity()
    unknown = set(cfg) - set(_KEYS)
    if unknown:
        raise KeyError(f'teacher_input has unknown key(s) {sorted(unknown)}. '
                       f'Valid keys: {", ".join(_KEYS)}.')
    student = _normalisation(student_preprocessor) or dict(
        mean=[0.], std=[1.], to_rgb=False)
    defaults = _normalisation(teacher_preprocessor) or student
    teacher = {key: cfg.get(key, defaults[key]) for key in student}
    return TeacherInput(
        student,
        teacher,
        size=cfg.get('size'),
        mode=cfg.get('mode', 'bilinear'))
