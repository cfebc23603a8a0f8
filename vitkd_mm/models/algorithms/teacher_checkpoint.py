"""Load a teacher's published checkpoint as published.

``teacher_ckpt`` is read and compared with the teacher by
:mod:`vitkd_mm.models.utils.state_dict_match` (wrappers, ``module.``
prefixes, the teacher's own position-embedding resize, grid-derived
buffers). Keys a published file carries that the model has no use for
(DINOv2's ``backbone.mask_token``) are dropped only when
``teacher_ckpt_ignore_keys`` names them.
"""
from typing import Sequence

from mmengine.logging import print_log
from torch import nn

from vitkd_mm.utils import preview
from ..utils.state_dict_match import match_state_dict, read_state_dict


def load_teacher_checkpoint(teacher: nn.Module,
                            filename: str,
                            strict: bool = True,
                            ignore_keys: Sequence[str] = ()):
    """Load ``teacher_ckpt`` into the teacher, strictly by default.

    Args:
        teacher (nn.Module): The teacher model.
        filename (str): ``teacher_ckpt``: a path or URL.
        strict (bool): ``teacher_ckpt_strict``. True refuses missing,
            unexpected and mismatched keys; False loads what fits (at least
            one key), warns with the rest, and first runs the teacher's own
            ``init_weights()`` so what the file lacks is initialised.
        ignore_keys (Sequence[str]): ``teacher_ckpt_ignore_keys``.

    Returns:
        KeyReport: How the file fitted.

    Raises:
        ValueError: Naming ``teacher_ckpt`` and the file, if it does not fit.
    """
    report, loadable = match_state_dict(
        teacher, read_state_dict(filename, 'teacher_ckpt'), ignore_keys)
    where = (f'teacher_ckpt={filename!r} ({type(teacher).__name__} '
             'teacher)')
    for pattern in report.unused_patterns:
        print_log(
            f'teacher_ckpt_ignore_keys: {pattern!r} matches no key of '
            f'{filename}: a typo?', 'current', 30)
    if not loadable:
        raise ValueError(f'{where} matches no key of the teacher: '
                         f'{report.problems}.')
    if strict and report.problems:
        raise ValueError(
            f'{where} does not fit the teacher: {report.problems}. Fix the '
            'teacher config or the checkpoint; for keys the model cannot '
            'use, list them in teacher_ckpt_ignore_keys; or set '
            'teacher_ckpt_strict=False to load only what fits.')
    if report.missing:
        teacher.init_weights()  # what the file lacks gets the teacher's init
    teacher.load_state_dict(loadable, strict=False)
    notes = [f'{len(loadable)} keys loaded']
    if report.ignored:
        notes.append(f'ignored by teacher_ckpt_ignore_keys: '
                     f'{preview(report.ignored)}')
    if report.recomputed:
        notes.append('recomputed for the configured grid: '
                     f'{preview(report.recomputed)}')
    if report.problems:
        notes.append(f'not loaded: {report.problems}')
    print_log(f'Loaded teacher_ckpt {filename}: ' + '; '.join(notes),
              'current', 30 if report.problems else 20)
    for key, file_shape, model_shape in report.resized:
        print_log(
            f'teacher_ckpt: {key} was resized from {list(file_shape)} to '
            f'{list(model_shape)} as it loaded: the checkpoint was trained '
            'on another input size than model.teacher is built for, and a '
            'teacher run off its resolution can teach worse. If it was '
            'fine-tuned at another size, build the teacher for that size '
            '(backbone img_size) and feed it that size (teacher_input.size).',
            'current', 30)
    # The runner's init_weights() must not re-initialise the teacher.
    teacher._is_init = True
    return report
