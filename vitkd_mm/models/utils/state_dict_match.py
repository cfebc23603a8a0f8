"""Read a checkpoint's state dict and compare it with a model, key by key.

The state dict is read through vitkd_mm's safe loaders
(:func:`vitkd_mm.utils.read_checkpoint`) and unwrapped (``state_dict`` or
``model`` wrappers, ``module.`` prefixes), then compared key by key *and*
shape by shape with the model, after the model's own load-time adaptations
have run: mmpretrain's ViTs resize a position embedding of another grid
when they load (DINOv2's 37 x 37 file into a 16 x 16 model), so that is no
mismatch. Buffers a model recomputes from its input grid (EVA-02's rotary
embeddings, :data:`DERIVED_BUFFERS`) keep the model's values when the
file's were made for another grid. Used by ``teacher_ckpt`` and by the
``vitkd_mm.StrictPretrained`` initializer.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(2, 3)
    >>> state = dict(model.state_dict(), mask_token=torch.zeros(1, 2))
    >>> report, loadable = match_state_dict(model, state, ['mask_*'])
    >>> report.ignored, report.problems, sorted(loadable)
    (['mask_token'], '', ['bias', 'weight'])
"""
import fnmatch
import os.path as osp
from dataclasses import dataclass, field
from typing import List, Sequence, Tuple
from urllib.error import URLError

import torch
from torch import nn

from vitkd_mm.utils import preview, read_checkpoint, strip_prefix

#: Buffers recomputed from the token grid, per module class name:
#: EVA-02's rotary position embedding (mmpretrain ``RotaryEmbeddingFast``).
DERIVED_BUFFERS = {'RotaryEmbeddingFast': ('freqs_cos', 'freqs_sin')}
#: Wrappers of a state dict in published files: mmengine's, and DeiT's
#: release format.
_WRAPPERS = ('state_dict', 'model')


@dataclass
class KeyReport:
    """How a checkpoint's state dict fits a model.

    Attributes:
        loaded (list[str]): The keys that load as they are.
        missing (list[str]): Model keys the file lacks.
        unexpected (list[str]): File keys the model lacks.
        mismatched (list[tuple]): ``(key, file shape, model shape)``.
        ignored (list[str]): File keys dropped by ``ignore_keys``.
        unused_patterns (list[str]): Patterns that matched no key.
        recomputed (list[str]): Grid-derived buffers kept at the model's
            values (:data:`DERIVED_BUFFERS`).
        resized (list[tuple]): ``(key, file shape, model shape)`` of what
            the model's own loader resized (a position embedding of
            another grid).
    """
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, tuple, tuple]] = field(default_factory=list)
    ignored: List[str] = field(default_factory=list)
    unused_patterns: List[str] = field(default_factory=list)
    recomputed: List[str] = field(default_factory=list)
    resized: List[Tuple[str, tuple, tuple]] = field(default_factory=list)

    @property
    def problems(self) -> str:
        """Missing, unexpected and mismatched keys in words ('' if none)."""
        parts = []
        if self.missing:
            parts.append(f'missing keys ({len(self.missing)}): '
                         f'{preview(self.missing)}')
        if self.unexpected:
            parts.append(f'unexpected keys ({len(self.unexpected)}): '
                         f'{preview(self.unexpected)}')
        if self.mismatched:
            shapes = [
                f'{key} (checkpoint {list(file)}, model {list(model)})'
                for key, file, model in self.mismatched
            ]
            parts.append(f'shape mismatches ({len(shapes)}): '
                         f'{preview(shapes)}')
        return '; '.join(parts)


def read_state_dict(filename: str, config_key: str = 'teacher_ckpt') -> dict:
    """The state dict of a checkpoint file or URL, unwrapped.

    Accepts a bare state dict, mmengine's ``{'state_dict': ...}`` and DeiT's
    ``{'model': ...}``; strips DDP's ``module.`` prefix.

    Raises:
        FileNotFoundError: No such file, or a directory.
        ConnectionError: A URL that cannot be fetched (offline host).
        TypeError: The file holds no state dict (a tensor, a list).
        UnsafeCheckpointError, UnreadableCheckpointError: As
            :func:`vitkd_mm.utils.read_checkpoint`.
    All name ``config_key`` and the file.
    """
    if osp.isdir(osp.expanduser(filename)):
        raise FileNotFoundError(
            f'{config_key}={filename!r} is a directory; give the '
            'checkpoint file (.pth) in it.')
    try:
        checkpoint = read_checkpoint(filename, config_key)
    except URLError as err:
        raise ConnectionError(
            f'{config_key}: cannot download {filename} ({err.reason}). On '
            'a host without internet, download it elsewhere and pass the '
            f'local copy: --cfg-options model.{config_key}=PATH') from None
    for key in _WRAPPERS:
        if isinstance(checkpoint, dict) and isinstance(
                checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    if not isinstance(checkpoint, dict) or not all(
            isinstance(value, torch.Tensor) for value in checkpoint.values()):
        raise TypeError(
            f'{config_key}={filename!r} holds a {type(checkpoint).__name__}'
            ', not a state dict of tensors (nor one under a '
            f'{" or ".join(map(repr, _WRAPPERS))} key).')
    return dict(strip_prefix(checkpoint, 'module.'))


def _adapt_to_model(model: nn.Module, state_dict: dict) -> None:
    """Run the model's load-time pre-hooks on ``state_dict`` in place (e.g.
    mmpretrain's position-embedding resize), as ``load_state_dict`` will."""
    for name, module in model.named_modules():
        prefix = f'{name}.' if name else ''
        for hook in module._load_state_dict_pre_hooks.values():
            hook(state_dict, prefix, {}, True, [], [], [])


def _derived_buffers(model: nn.Module) -> List[str]:
    return [
        f'{name}.{buffer}' if name else buffer
        for name, module in model.named_modules(remove_duplicate=False)
        for buffer in DERIVED_BUFFERS.get(type(module).__name__, ())
    ]


def match_state_dict(model: nn.Module, state_dict: dict,
                     ignore_keys: Sequence[str]) -> Tuple[KeyReport, dict]:
    """Compare ``state_dict`` with ``model`` by key and shape.

    Args:
        model (nn.Module): The model to load into.
        state_dict (dict): Its checkpoint's state dict (not changed).
        ignore_keys (Sequence[str]): ``fnmatch`` patterns of file keys to
            drop, e.g. ``['backbone.mask_token']``.

    Returns:
        tuple[KeyReport, dict]: What loads, what is missing, unexpected,
        mismatched; and the entries that load, adapted to the model.
    """
    report = KeyReport()
    state_dict = dict(state_dict)
    for pattern in ignore_keys:
        matched = fnmatch.filter(list(state_dict), pattern)
        if not matched:
            report.unused_patterns.append(pattern)
        for key in matched:
            report.ignored.append(key)
            del state_dict[key]
    shapes = {key: tuple(value.shape) for key, value in state_dict.items()}
    _adapt_to_model(model, state_dict)
    report.resized = [(key, shapes[key], tuple(value.shape))
                      for key, value in state_dict.items()
                      if key in shapes and tuple(value.shape) != shapes[key]]
    expected = model.state_dict()
    derived = set(_derived_buffers(model))
    report.missing = [key for key in expected if key not in state_dict]
    loadable = {}
    for key, value in state_dict.items():
        if key not in expected:
            report.unexpected.append(key)
        elif value.shape == expected[key].shape:
            loadable[key] = value
        elif key in derived:
            report.recomputed.append(key)
        else:
            report.mismatched.append(
                (key, tuple(value.shape), tuple(expected[key].shape)))
    report.loaded = list(loadable)
    return report, loadable
