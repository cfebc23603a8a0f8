import functools
import inspect
import weakref
from importlib import import_module
from typing import Optional

from torch import nn

from vitkd_mm.registry import RECORDERS
from .base_recorder import BaseRecorder

_MISSING = object()


def _split_path(source: str, depth: int):
    parts = source.rsplit('.', depth)
    if len(parts) != depth + 1 or not all(parts):
        raise ValueError(f'Cannot parse source={source!r}.')
    return parts


class PatchRecorder(BaseRecorder):
    """Base of the recorders that wrap an attribute (method or function).

    The attribute is replaced by a recording wrapper on entering the
    context and restored on exit, so no wrapper outlives the context,
    wrappers never stack across models and nothing keeps a reference to the
    recorder once the context is left.
    """

    def prepare_from_model(self, model: Optional[nn.Module] = None) -> None:
        self.owner, self.name = self.resolve()
        self.attribute = inspect.getattr_static(self.owner, self.name,
                                                _MISSING)
        if self.attribute is _MISSING:
            raise ValueError(f'{self}: {self.owner!r} has no attribute '
                             f'{self.name!r}.')

    def resolve(self):
        """Return ``(owner, attribute name)`` of the source."""
        raise NotImplementedError

    def accepts(self, args) -> bool:
        """Whether a call with positional ``args`` is recorded."""
        return True

    def _wrap(self, function):

        @functools.wraps(function)
        def wrapped(*args, **kwargs):
            outputs = function(*args, **kwargs)
            if self.accepts(args):
                self.record(outputs)
            return outputs

        return wrapped

    def __enter__(self):
        super().__enter__()
        raw = self.attribute
        if isinstance(raw, (staticmethod, classmethod)):
            patched = type(raw)(self._wrap(raw.__func__))
        else:
            patched = self._wrap(raw)
        # An inherited method is not in the owner's own namespace: restore
        # by deleting the patch, so lookup falls back to the base class.
        self._own = self.owner.__dict__.get(self.name, _MISSING)
        setattr(self.owner, self.name, patched)
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        if self._own is _MISSING:
            delattr(self.owner, self.name)
        else:
            setattr(self.owner, self.name, self._own)
        super().__exit__(exc_type, exc_value, traceback)


@RECORDERS.register_module()
class MethodOutputs(PatchRecorder):
    """Record the outputs of a class method by wrapping it.

    Inside the context the class attribute is a wrapper that calls the
    original (plain, static or class method) and records its output; on exit
    the original comes back. Given a model at :meth:`initialize`, only calls
    on that model's own modules are recorded, not those of another model
    using the same class.

    Args:
        source (str): ``'package.module.ClassName.method_name'``.

    Examples:
        >>> import torch
        >>> from mmpretrain.models.heads import ClsHead
        >>> head = ClsHead()
        >>> recorder = MethodOutputs(
        ...     'mmpretrain.models.heads.ClsHead.pre_logits')
        >>> recorder.initialize(head)
        >>> with recorder:
        ...     _ = head.pre_logits((torch.rand(2, 3), ))
        >>> recorder.get_record_data().shape
        torch.Size([2, 3])
        >>> 'wrapped' in repr(ClsHead.pre_logits)  # restored on exit
        False
    """

    def prepare_from_model(self, model: Optional[nn.Module] = None) -> None:
        super().prepare_from_model(model)
        self.model = None if model is None else weakref.ref(model)

    def resolve(self):
        module_path, cls_name, method_name = _split_path(self.source, 2)
        return getattr(import_module(module_path), cls_name), method_name

    def accepts(self, args) -> bool:
        model = self.model() if self.model is not None else None
        if model is None or not args or not isinstance(args[0], nn.Module):
            return True
        return any(module is args[0] for module in model.modules())


@RECORDERS.register_module()
class FunctionOutputs(PatchRecorder):
    """Record the outputs of a module-level function by wrapping it.

    Inside the context the module attribute is a wrapper; on exit the
    original comes back. Only calls that look the function up through its
    module attribute see the wrapper (``module.func(...)``, not a name
    imported earlier with ``from module import func``), from any caller.

    Args:
        source (str): ``'package.module.function_name'``.

    Examples:
        >>> import torch
        >>> recorder = FunctionOutputs('torch.nn.functional.softmax')
        >>> recorder.initialize()
        >>> with recorder:
        ...     _ = torch.nn.functional.softmax(torch.zeros(1, 2), dim=1)
        >>> recorder.get_record_data()
        tensor([[0.5000, 0.5000]])
    """

    def resolve(self):
        module_path, func_name = _split_path(self.source, 1)
        return import_module(module_path), func_name
