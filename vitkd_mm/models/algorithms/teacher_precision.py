"""The numeric precision of a frozen teacher's forward.

A frozen teacher runs under ``no_grad`` and only produces targets, so it
can run in bf16 (or fp16 on CUDA) while the student trains in fp32.
:class:`TeacherPrecision` is checked once at build time against the device
the runner will put the model on and opens the matching ``torch.autocast``
around the teacher's forward; what the teacher's recorders caught is cast
back to the student's dtype
(:meth:`~vitkd_mm.models.ConfigurableDistiller.record_teacher`), so
connectors and losses never see the teacher's precision. The teacher's
weights stay fp32: checkpoints keep the teacher exactly as loaded.
"""
import logging
from contextlib import nullcontext
from typing import Dict, Tuple

import torch
from mmengine.logging import print_log

from vitkd_mm.utils import CPU_BF16_FLAGS, cpu_bf16_flags

#: ``teacher_precision`` values and the autocast dtype of each (fp32: none).
PRECISIONS: Dict[str, torch.dtype] = dict(
    fp32=torch.float32, bf16=torch.bfloat16, fp16=torch.float16)


def supported_precisions(device_type: str) -> Tuple[str, ...]:
    """The ``teacher_precision`` values a device type can run.

    bf16 runs on every CPU (emulated, hence slower, where
    :func:`cpu_bf16_flags` is empty) and on CUDA devices with bf16 support;
    fp16 needs CUDA (CPUs have no fp16 arithmetic worth using).

    Args:
        device_type (str): ``'cpu'``, ``'cuda'``, ...

    Returns:
        tuple[str]: The supported values, ``'fp32'`` always first.
    """
    if device_type == 'cpu':
        return ('fp32', 'bf16')
    if device_type == 'cuda':
        return ('fp32', 'fp16') + (
            ('bf16', ) if torch.cuda.is_bf16_supported() else ())
    return ('fp32', )


class TeacherPrecision:
    """Run a frozen teacher's forward in ``precision``.

    ``'fp32'`` opens no autocast of its own: the teacher runs as the
    surrounding code does (fp32, or the autocast dtype of mmengine's
    ``AmpOptimWrapper``, whose context wraps the whole loss forward).
    ``'bf16'`` and ``'fp16'`` open ``torch.autocast`` with that dtype on the
    inputs' device; nested inside the ``AmpOptimWrapper``'s autocast it
    overrides the wrapper's dtype for the teacher only.

    Args:
        precision (str): ``'fp32'``, ``'bf16'`` or ``'fp16'``.
        device_type (str): The device type the model will run on, checked
            against :func:`supported_precisions`.
        teacher_trainable (bool): Whether the teacher trains (online
            distillation); only ``'fp32'`` is allowed then, the precision
            being the frozen teacher's. Defaults to False.

    Raises:
        ValueError: If ``precision`` is unknown, not supported on
            ``device_type`` or set for a trainable teacher; the message
            names ``teacher_precision``.

    ``'bf16'`` on a CPU without native bf16 (:func:`cpu_bf16_flags` empty)
    builds, so its accuracy can be checked anywhere, but logs a warning:
    there every bf16 matmul is emulated and the teacher gets slower, not
    faster.

    Examples:
        >>> teacher = torch.nn.Linear(4, 2)
        >>> precision = TeacherPrecision('bf16', 'cpu')
        >>> with torch.no_grad(), precision.autocast('cpu'):
        ...     out = teacher(torch.rand(3, 4))
        >>> out.dtype
        torch.bfloat16
    """

    def __init__(self,
                 precision: str,
                 device_type: str,
                 teacher_trainable: bool = False) -> None:
        if precision not in PRECISIONS:
            raise ValueError(
                f'teacher_precision={precision!r} is unknown; use one of '
                f'{sorted(PRECISIONS)}.')
        supported = supported_precisions(device_type)
        if precision not in supported:
            raise ValueError(
                f'teacher_precision={precision!r} is not supported on '
                f'{device_type!r} (supported there: {list(supported)}).' +
                (" Use 'bf16' on CPUs." if precision == 'fp16' else ''))
        if teacher_trainable and precision != 'fp32':
            raise ValueError(
                f'teacher_precision={precision!r} applies to a frozen '
                "teacher; with teacher_trainable=True use 'fp32' (or the "
                "optimizer wrapper's AMP for both networks).")
        if (precision == 'bf16' and device_type == 'cpu'
                and not cpu_bf16_flags()):
            print_log(
                "teacher_precision='bf16' on a CPU without native bf16 "
                f"(none of {', '.join(CPU_BF16_FLAGS)} in /proc/cpuinfo): "
                'bf16 is emulated there, so the teacher forward runs '
                "slower than in 'fp32', not faster.", 'current',
                logging.WARNING)
        self.precision = precision
        self.dtype = PRECISIONS[precision]

    def autocast(self, device_type: str):
        """The context the teacher's forward runs in on ``device_type``."""
        if self.precision == 'fp32':
            return nullcontext()
        return torch.autocast(device_type, dtype=self.dtype)
