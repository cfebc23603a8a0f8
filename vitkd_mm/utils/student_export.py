"""Turn a distillation checkpoint into a plain student checkpoint."""
from collections import OrderedDict
from typing import Mapping

STUDENT_PREFIX = 'architecture.'


def strip_prefix(state_dict: Mapping,
                 prefix: str,
                 keep_others: bool = True) -> OrderedDict:
    """``state_dict`` with ``prefix`` taken off the keys that start with it;
    the other keys kept (``keep_others``) or dropped.

    Examples:
        >>> dict(strip_prefix({'module.a': 1, 'b': 2}, 'module.'))
        {'a': 1, 'b': 2}
        >>> dict(strip_prefix({'backbone.a': 1, 'head.b': 2}, 'backbone.',
        ...                   keep_others=False))
        {'a': 1}
    """
    return OrderedDict(
        (key[len(prefix):] if key.startswith(prefix) else key, value)
        for key, value in state_dict.items()
        if keep_others or key.startswith(prefix))


def student_state_dict(state_dict: Mapping) -> OrderedDict:
    """Keep the student's weights, without their ``architecture.`` prefix.

    Drops the teacher (``teacher.``), the distiller (``distiller.``: the
    projections, mask token and generator, which only serve training) and
    the shared data preprocessor.

    Args:
        state_dict (Mapping): State dict of a ``SingleTeacherDistill``
            (``module.`` prefixes of a DDP-saved model are allowed).

    Returns:
        OrderedDict: Keys as a stock mmpretrain/mmdet model has them.

    Raises:
        KeyError: If no key starts with ``architecture.``.
    """
    student = strip_prefix(
        strip_prefix(state_dict, 'module.'), STUDENT_PREFIX, keep_others=False)
    if not student:
        raise KeyError(f'No key starts with {STUDENT_PREFIX!r}: this is not a '
                       'checkpoint of a distillation run. Keys start with '
                       f'{sorted(state_dict)[:3]}.')
    return student


def student_checkpoint(checkpoint: Mapping) -> dict:
    """A checkpoint dict holding only the student (no optimizer, no teacher).

    Keeps the ``meta`` that inference reads: ``dataset_meta`` (the class
    names ``mmpretrain.apis.get_model`` and mmdet's ``init_detector`` give
    the model; ``CLASSES`` in older checkpoints) and the run's identity.

    Args:
        checkpoint (Mapping): As saved by mmengine, with ``state_dict`` and
            optionally ``meta``.

    Raises:
        TypeError: If ``checkpoint`` is not a dict (e.g. a bare tensor).
        KeyError: If it holds no student (see :func:`student_state_dict`).
    """
    if not isinstance(checkpoint, Mapping):
        raise TypeError('a checkpoint is a dict with a state_dict, got a '
                        f'{type(checkpoint).__name__}.')
    state_dict = checkpoint.get('state_dict', checkpoint)
    meta = dict(checkpoint.get('meta', {}) or {})
    keep = ('epoch', 'iter', 'mmengine_version', 'cfg', 'seed', 'time',
            'experiment_name', 'dataset_meta', 'CLASSES')
    meta = {key: value for key, value in meta.items() if key in keep}
    meta['vitkd_mm'] = 'student exported from a distillation checkpoint'
    return dict(meta=meta, state_dict=student_state_dict(state_dict))
