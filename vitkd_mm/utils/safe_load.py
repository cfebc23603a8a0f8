"""Let ``torch.load(weights_only=True)`` read the checkpoints mmengine writes.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True`` and refuses
any global it does not know. mmengine 0.10.7 checkpoints hold, besides
tensors, the message hub's :class:`~mmengine.logging.HistoryBuffer` objects,
the numpy arrays, dtypes and scalars inside them, and the buffer's statistics
methods, which pickle writes as ``getattr(HistoryBuffer, 'mean')``. We
allow-list exactly those; ``weights_only`` stays on, and ``getattr`` resolves
only to a restricted version that returns a HistoryBuffer statistics method.
"""
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_statistic(owner, name):
    """The only ``getattr`` a checkpoint may call: a HistoryBuffer statistic.

    Args:
        owner (type): Must be :class:`HistoryBuffer`.
        name (str): One of ``min``, ``max``, ``current``, ``mean``.

    Returns:
        Callable: ``getattr(HistoryBuffer, name)``.
    """
    if owner is not HistoryBuffer or name not in _HISTORY_BUFFER_STATISTICS:
        raise pickle.UnpicklingError(
            f'Refusing getattr({owner!r}, {name!r}) while loading a '
            'checkpoint: only HistoryBuffer statistics methods '
            f'{_HISTORY_BUFFER_STATISTICS} are allowed.')
    return getattr(owner, name)


def _numpy_multiarray():
    core = getattr(np, '_core', None)  # numpy >= 2
    return core.multiarray if core is not None else np.core.multiarray


def _numpy_dtype_classes():
    """``numpy.dtypes.Float64DType`` and its siblings (numpy >= 1.25)."""
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is None:
        return []
    return [
        cls for name, cls in vars(dtypes).items()
        if name.endswith('DType') and isinstance(cls, type)
    ]


def safe_checkpoint_globals():
    """The globals mmengine checkpoints need, as ``add_safe_globals`` takes.

    Returns:
        list: Types and functions, some paired with the qualified name they
        are pickled under (``numpy.core`` before numpy 2, ``__builtin__``
        for pickle protocol 2).
    """
    multiarray = _numpy_multiarray()
    safe = [HistoryBuffer, np.ndarray, np.dtype, *_numpy_dtype_classes()]
    for func_name in ('_reconstruct', 'scalar'):
        func = getattr(multiarray, func_name)
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            safe.append((func, f'{module}.{func_name}'))
    for module in ('__builtin__', 'builtins'):
        safe.append((history_buffer_statistic, f'{module}.getattr'))
    return safe


def enable_safe_checkpoint_loading():
    """Allow-list the types of mmengine checkpoints for ``torch.load``.

    A no-op on torch versions without ``torch.serialization.add_safe_globals``
    (< 2.4), which load full pickles anyway. Safe to call more than once.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:
        add_safe_globals(safe_checkpoint_globals())
