"""A ``pickle_module`` for ``torch.load`` that resolves only allow-listed
globals, for torch versions whose ``weights_only`` loader cannot be extended
(< 2.6).

``torch.load(f, pickle_module=restricted_pickle)`` unpickles the
checkpoint's metadata and objects with :class:`Unpickler`, which looks every
global up in a fixed table (torch's own weights-only globals plus
:func:`~vitkd_mm.utils.checkpoint_allowlist.safe_checkpoint_globals`) and
lets pickle's ``BUILD`` set the state only of instances of allow-listed
classes, so a class or function can never be modified. Anything else raises
:class:`~vitkd_mm.utils.checkpoint_allowlist.UnsafeCheckpointError` before
it is called.

Examples:
    >>> import torch
    >>> from vitkd_mm.utils import restricted_pickle
    >>> checkpoint = torch.load(  # doctest: +SKIP
    ...     'epoch_1.pth', map_location='cpu', pickle_module=restricted_pickle)
"""
import builtins
import collections
import functools
import pickle

import _codecs
import _compat_pickle
from torch import _weights_only_unpickler

from .checkpoint_allowlist import (UnsafeCheckpointError,
                                   safe_checkpoint_globals)

# Protocol-2 pickles (torch's default) write bytes, sets and complex numbers
# as calls of these; torch >= 2.6 allows the same ones.
_BUILTIN_GLOBALS = ('_codecs.encode', 'builtins.bytearray', 'builtins.complex',
                    'builtins.set', 'collections.Counter')


@functools.lru_cache(maxsize=None)
def allowed_globals():
    """The table :class:`Unpickler` resolves globals from.

    Returns:
        dict: ``'module.name'`` to the object it stands for.
    """
    table = dict(_weights_only_unpickler._get_allowed_globals())
    modules = dict(_codecs=_codecs, builtins=builtins, collections=collections)
    for qualified in _BUILTIN_GLOBALS:
        module, name = qualified.split('.')
        table[qualified] = getattr(modules[module], name)
    for entry in safe_checkpoint_globals():
        obj, qualified = entry if isinstance(
            entry, tuple) else (entry,
                                f'{entry.__module__}.{entry.__qualname__}')
        table[qualified] = obj
    return table


@functools.lru_cache(maxsize=None)
def _buildable_classes():
    return frozenset(obj for obj in allowed_globals().values()
                     if isinstance(obj, type))


class Unpickler(pickle._Unpickler):
    """Unpickles only allow-listed globals; ``BUILD`` only their instances.

    The pure-Python unpickler, as the C one cannot restrict ``BUILD``.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module, name):
        if self.proto < 3 and self.fix_imports:  # Python 2 names, as pickle
            module, name = _compat_pickle.NAME_MAPPING.get((module, name),
                                                           (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return allowed_globals()[f'{module}.{name}']
        except KeyError:
            raise UnsafeCheckpointError(
                f'global {module}.{name} is not allow-listed') from None

    def load_build(self):
        target = self.stack[-2]  # the stack ends with target, state
        if type(target) not in _buildable_classes():
            raise UnsafeCheckpointError(
                f'pickle BUILD on a {type(target).__name__} (only instances '
                'of allow-listed classes may have their state set)')
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build


def load(file, **kwargs):
    """``pickle.load`` through :class:`Unpickler`."""
    return Unpickler(file, **kwargs).load()
