"""Checkpoint loading that never runs code from the file, on every torch.

Importing :mod:`vitkd_mm` (what a config's ``custom_imports`` does) calls
:func:`enable_safe_checkpoint_loading`, which changes two things for the
whole process:

1. mmengine's checkpoint loaders for local files, ``http(s)://`` URLs and
   the model-zoo schemes (``torchvision://``, ``open-mmlab://``,
   ``mmcls://``) are replaced, through
   ``mmengine.runner.checkpoint.CheckpointLoader.register_scheme``, by
   loaders that read with :func:`safe_torch_load`. So ``teacher_ckpt``,
   ``load_from``, ``--resume``, ``init_cfg=dict(type='Pretrained')`` and
   ``mim test --checkpoint`` refuse any global outside the allow-list of
   :mod:`vitkd_mm.utils.checkpoint_allowlist`, on every torch. (mmengine's
   own http loader unpickles fully even on torch 2.14.) ``pavi://`` and
   ``s3://``/``petrel://`` checkpoints, which mmengine would unpickle
   fully, are refused: download the file and give its path.
2. On torch >= 2.6, that allow-list is also added to torch's own
   (``torch.serialization.add_safe_globals``), so a plain
   ``torch.load(path)`` (``weights_only=True`` by default there) reads
   mmengine checkpoints too. On older torch a plain ``torch.load`` still
   unpickles fully: load through :func:`safe_torch_load` instead.

:func:`safe_torch_load` uses ``torch.load(weights_only=True)`` on torch >=
2.6 and :mod:`vitkd_mm.utils.restricted_pickle` (same allow-list) on older
torch. It reports a refused file as :class:`UnsafeCheckpointError` and a
file torch cannot read as :class:`UnreadableCheckpointError`, both naming
the file, never with torch's advice to turn ``weights_only`` off.

Examples:
    >>> import vitkd_mm  # noqa: F401
    >>> from vitkd_mm.utils import read_checkpoint, safe_torch_load
    >>> state = safe_torch_load(  # doctest: +SKIP
    ...     'epoch_1.pth', map_location='cpu')
    >>> state = read_checkpoint(  # doctest: +SKIP
    ...     'teacher.pth', 'teacher_ckpt')
"""
import os
import os.path as osp
import pickle
import zipfile
from urllib.parse import urlparse

import torch
from mmengine.dist import get_dist_info
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.utils import digit_version

from . import restricted_pickle
from .checkpoint_allowlist import (UnreadableCheckpointError,
                                   UnsafeCheckpointError,
                                   safe_checkpoint_globals)

# torch >= 2.6: weights_only=True is extensible (and the default).
TORCH_CHECKS_GLOBALS = digit_version(
    torch.__version__) >= digit_version('2.6.0')
# Words of torch's weights-only errors that mean "refused", not "corrupt".
_REFUSAL_WORDS = ('global', 'refusing', 'allowlisted', 'add_safe_globals')


def _torch_detail(message):
    """A torch error message without its advice about ``weights_only``."""
    lines = (line.strip() for line in message.splitlines())
    kept = [
        line for line in lines if line and 'weights_only' not in line
        and not line.startswith('Check the documentation of torch.load')
    ]
    return ' '.join(kept)


def _is_torchscript(file):
    """``torch.load`` would hand a TorchScript archive (code) to
    ``torch.jit.load``."""
    position = file.tell() if hasattr(file, 'seek') else None
    try:
        if not zipfile.is_zipfile(file):
            return False
        with zipfile.ZipFile(file) as archive:
            return any(
                path.split('/', 1)[-1] == 'constants.pkl'
                for path in archive.namelist())
    finally:
        if position is not None:
            file.seek(position)


def safe_torch_load(file, map_location=None):
    """``torch.load`` that refuses every global outside the allow-list.

    Args:
        file (str | os.PathLike | IO[bytes]): The checkpoint.
        map_location: As for :func:`torch.load`.

    Returns:
        The loaded object.

    Raises:
        UnsafeCheckpointError: If the file names a global outside the
            allow-list (nothing from the file has run), or is TorchScript.
        UnreadableCheckpointError: If torch cannot read the file.
    """
    name = repr(os.fspath(file)) if isinstance(file, (str, os.PathLike)) \
        else 'the checkpoint'
    try:
        if _is_torchscript(file):
            raise UnsafeCheckpointError('it is a TorchScript archive (code), '
                                        'not a checkpoint')
        if TORCH_CHECKS_GLOBALS:
            return torch.load(
                file, map_location=map_location, weights_only=True)
        return torch.load(
            file, map_location=map_location, pickle_module=restricted_pickle)
    except OSError:  # missing, a directory, no permission: as torch says
        raise
    except Exception as err:  # noqa: B902  (whatever the unpickler raises)
        error_type, detail = type(err).__name__, _torch_detail(str(err))
        refused = isinstance(err, UnsafeCheckpointError) or (isinstance(
            err, pickle.UnpicklingError) and any(word in detail.lower()
                                                 for word in _REFUSAL_WORDS))
    if refused:
        raise UnsafeCheckpointError(
            f'Refused to load {name}: {detail.rstrip(".")}. A checkpoint '
            'may hold only tensors and the types mmengine writes '
            '(vitkd_mm.utils.checkpoint_allowlist); unpickling anything '
            'else could run code. Use checkpoints from sources you '
            'trust.') from None
    cause = f'{error_type}: {detail}' if detail else error_type
    raise UnreadableCheckpointError(
        f'Cannot read checkpoint {name} ({cause}): the file is empty, '
        'truncated, corrupt or not written by torch.save.') from None


def read_checkpoint(filename, config_key, map_location='cpu'):
    """Load a checkpoint named by a config key, through mmengine's loaders.

    Args:
        filename (str): A path, URL or model-zoo name.
        config_key (str): The key that named it, for errors
            (e.g. ``'teacher_ckpt'``).
        map_location: As for :func:`torch.load`.

    Raises:
        FileNotFoundError, UnsafeCheckpointError, UnreadableCheckpointError:
            With ``config_key`` in front of the message.
    """
    try:
        return mmengine_checkpoint._load_checkpoint(
            filename, map_location=map_location)
    except (FileNotFoundError, UnsafeCheckpointError,
            UnreadableCheckpointError) as err:
        raise type(err)(f'{config_key}: {err}') from None


def load_from_local(filename, map_location=None):
    """mmengine's local-file loader, through :func:`safe_torch_load`."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location)


def _download(url, model_dir=None, progress=True):
    """Download ``url`` once into torch hub's cache; returns the path."""
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached = osp.join(model_dir, osp.basename(urlparse(url).path))
    if not osp.exists(cached):
        torch.hub.download_url_to_file(url, cached, progress=progress)
    return cached


def load_from_http(filename,
                   map_location=None,
                   model_dir=None,
                   progress=os.isatty(0)):
    """mmengine's http(s) loader (rank 0 downloads first), loading safely."""
    rank, world_size = get_dist_info()
    if rank == 0:
        cached = _download(filename, model_dir, progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            cached = _download(filename, model_dir, progress)
    return safe_torch_load(cached, map_location)


def load_from_model_zoo(filename, map_location=None):
    """``torchvision://``, ``open-mmlab://`` and ``mmcls://`` names, resolved
    with mmengine's tables and loaded safely."""
    scheme, name = filename.split('://', 1)
    if scheme in ('modelzoo', 'torchvision'):
        return load_from_http(
            mmengine_checkpoint.get_torchvision_models()[name], map_location)
    if scheme == 'mmcls':
        checkpoint = load_from_http(
            mmengine_checkpoint.get_mmcls_models()[name], map_location)
        return mmengine_checkpoint._process_mmcls_checkpoint(checkpoint)
    name = mmengine_checkpoint.get_deprecated_model_names().get(name, name)
    url = mmengine_checkpoint.get_external_models()[name]
    if url.startswith(('http://', 'https://')):
        return load_from_http(url, map_location)
    return load_from_local(
        osp.join(mmengine_checkpoint._get_mmengine_home(), url), map_location)


def load_from_unsupported(filename, map_location=None):
    """``pavi://`` and ``s3://``: mmengine would unpickle them fully."""
    raise UnsafeCheckpointError(
        f'Refused to load {filename!r}: vitkd_mm loads only local files, '
        'http(s) URLs and model-zoo names safely. Download the file and '
        'give its path.')


_MODEL_ZOO = ('modelzoo://', 'torchvision://', 'open-mmlab://', 'openmmlab://',
              'mmcls://')
_SCHEMES = {
    '': load_from_local,
    ('http://', 'https://'): load_from_http,
    _MODEL_ZOO: load_from_model_zoo,
    ('pavi://', r'(\S+\:)?s3://', r'(\S+\:)?petrel://'): load_from_unsupported,
}


def enable_safe_checkpoint_loading():
    """Make mmengine's (and, on torch >= 2.6, torch's) checkpoint loading
    refuse globals outside the allow-list; see the module docstring.

    Safe to call more than once.
    """
    if TORCH_CHECKS_GLOBALS:
        torch.serialization.add_safe_globals(safe_checkpoint_globals())
    for prefixes, loader in _SCHEMES.items():
        mmengine_checkpoint.CheckpointLoader.register_scheme(
            prefixes, loader, force=True)
