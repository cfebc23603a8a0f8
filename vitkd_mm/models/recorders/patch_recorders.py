import functools
from importlib import import_module
from typing import Optional

from torch import nn

from vitkd_mm.registry import RECORDERS
from .base_recorder import BaseRecorder


def _split_path(source: str, depth: int):
    parts = source.rsplit('.', depth)
    if len(parts) != depth + 1 or not all(parts):
        raise ValueError(f'Cannot parse source={source!r}.')
    return parts


@RECORDERS.register_module()
class MethodOutputs(BaseRecorder):
    """Record the outputs of a class method by wrapping it.

    The class attribute is replaced once by a wrapper that calls the original
    and records its output while recording. Every instance of the class goes
    through the wrapper; values are kept only inside this recorder's context.

    Args:
        source (str): ``'package.module.ClassName.method_name'``.

    Examples:
        >>> recorder = MethodOutputs(
        ...     'mmpretrain.models.heads.ClsHead.pre_logits')
        >>> recorder.initialize()
    """

    def prepare_from_model(self, model: Optional[nn.Module] = None) -> None:
        module_path, cls_name, method_name = _split_path(self.source, 2)
        owner = getattr(import_module(module_path), cls_name)
        original = getattr(owner, method_name)
        setattr(owner, method_name, self._wrap(original))

    def _wrap(self, original):

        @functools.wraps(original)
        def wrapped(*args, **kwargs):
            outputs = original(*args, **kwargs)
            self.record(outputs)
            return outputs

        return wrapped


@RECORDERS.register_module()
class FunctionOutputs(MethodOutputs):
    """Record the outputs of a module-level function by wrapping it.

    Only calls that look the function up through its module attribute see
    the wrapper (``module.func(...)``, not a name imported earlier with
    ``from module import func``).

    Args:
        source (str): ``'package.module.function_name'``.

    Examples:
        >>> recorder = FunctionOutputs('torch.nn.functional.softmax')
    """

    def prepare_from_model(self, model: Optional[nn.Module] = None) -> None:
        module_path, func_name = _split_path(self.source, 1)
        module = import_module(module_path)
        setattr(module, func_name, self._wrap(getattr(module, func_name)))
