"""Build a component from its config, with errors that name its key."""
import inspect
from typing import Callable, Iterable, List, Tuple

from mmengine.registry import Registry


def argument_mismatch(function: Callable,
                      given: Iterable[str],
                      skip: int = 0) -> Tuple[List[str], List[str], List[str]]:
    """Compare keyword arguments with ``function``'s signature.

    Args:
        function (Callable): The function (``cls.__init__``, a bound
            ``forward``).
        given (Iterable[str]): The argument names a config gives.
        skip (int): Leading parameters passed anyway (``self``, a
            connector's record).

    Returns:
        tuple[list[str]]: The accepted names, the given ones it does not
        take, and the required ones not given; all empty if it takes
        ``**kwargs``.

    Examples:
        >>> def loss(preds_S, preds_T, mask=None): pass
        >>> argument_mismatch(loss, ['preds_S', 'mask', 'gt'])
        (['preds_S', 'preds_T', 'mask'], ['gt'], ['preds_T'])
    """
    params = inspect.signature(function).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return [], [], []
    accepted = [
        name for name, p in params.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ][skip:]
    given = list(given)
    unknown = [name for name in given if name not in accepted]
    missing = [
        name for name in accepted if
        params[name].default is inspect.Parameter.empty and name not in given
    ]
    return accepted, unknown, missing


def _constructor_check(key: str, cls: type, cfg: dict) -> None:
    accepted, unknown, missing = argument_mismatch(
        cls.__init__, [name for name in cfg if name != 'type'], skip=1)
    if unknown:
        raise TypeError(f'{key}: {cls.__name__} takes no argument(s) '
                        f'{unknown}. Valid arguments: '
                        f'{", ".join(accepted)}.')
    if missing:
        raise TypeError(f'{key}: {cls.__name__} is missing required '
                        f'argument(s) {missing}.')


def build_component(registry: Registry, key: str, cfg: dict):
    """Build ``cfg`` from ``registry``; every error names ``key``.

    Unknown types, unknown or missing constructor arguments and the errors
    a constructor raises (``TypeError``, ``ValueError``, ``KeyError``) come
    back as the same exception type, prefixed with the config key path.

    Args:
        registry (Registry): Where ``cfg['type']`` is looked up.
        key (str): The config key path, e.g. ``'distill_losses.loss_gen'``.
        cfg (dict): The component config, with a ``type``.

    Examples:
        >>> from vitkd_mm.registry import MODELS
        >>> cfg = dict(type='MimicLoss', loss_weigth=1.0)
        >>> build_component(MODELS, 'loss', cfg)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        TypeError: loss: MimicLoss takes no argument(s) ['loss_weigth']...
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'{key} must be a dict with a "type", got {cfg!r}.')
    cls = cfg['type'] if inspect.isclass(cfg['type']) else registry.get(
        cfg['type'])
    if cls is None:
        raise KeyError(f'{key}: unknown type {cfg["type"]!r}. Valid types: '
                       f'{", ".join(sorted(registry.module_dict))}.')
    _constructor_check(key, cls, cfg)
    args = {name: value for name, value in cfg.items() if name != 'type'}
    try:
        return cls(**args)
    except (TypeError, ValueError, KeyError) as error:
        message = error.args[0] if error.args else error
        raise type(error)(f'{key}: {message}') from error
