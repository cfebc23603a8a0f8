"""The globals a checkpoint may hold, and the errors of refused loads.

Loading a checkpoint unpickles it, and a pickle can call any function it
names. mmengine 0.10.7 checkpoints hold, besides tensors, the message hub's
:class:`~mmengine.logging.HistoryBuffer` objects, the numpy arrays, dtypes
and scalars inside them, and the buffer's statistics methods, which pickle
writes as ``getattr(HistoryBuffer, 'mean')``. We allow-list exactly those on
top of torch's own weights-only globals; ``getattr`` resolves only to a
restricted version that returns a HistoryBuffer statistics method.
:mod:`vitkd_mm.utils.checkpoint_loading` enforces the list on every torch.
"""
import pickle

import numpy as np
from mmengine.logging import HistoryBuffer

_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint names a global outside the allow-list (it could run
    code), so it was not loaded."""


class UnreadableCheckpointError(RuntimeError):
    """A file is not a checkpoint torch can read: empty, truncated, corrupt
    or not written by ``torch.save``."""


def history_buffer_statistic(owner, name):
    """The only ``getattr`` a checkpoint may call: a HistoryBuffer statistic.

    Args:
        owner (type): Must be :class:`HistoryBuffer`.
        name (str): One of ``min``, ``max``, ``current``, ``mean``.

    Returns:
        Callable: ``getattr(HistoryBuffer, name)``.
    """
    if owner is not HistoryBuffer or name not in _HISTORY_BUFFER_STATISTICS:
        raise UnsafeCheckpointError(
            f'Refusing getattr({owner!r}, {name!r}) while loading a '
            'checkpoint: only HistoryBuffer statistics methods '
            f'{_HISTORY_BUFFER_STATISTICS} are allowed.')
    return getattr(owner, name)


def _numpy_multiarray():
    if np.lib.NumpyVersion(np.__version__) >= '2.0.0':
        return np._core.multiarray
    return np.core.multiarray


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
