from typing import Optional

from torch import nn

from vitkd_mm.registry import RECORDERS
from vitkd_mm.utils import preview
from .base_recorder import BaseRecorder


class ModuleRecorder(BaseRecorder):
    """Base of the recorders that hook the submodule named ``source``.

    The hook stays registered; it records only inside the context.

    Args:
        source (str): Name of the submodule, as in ``model.named_modules()``.

    Examples:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 2))
        >>> outputs, inputs = ModuleOutputs('0'), ModuleInputs('0')
        >>> outputs.initialize(model)
        >>> inputs.initialize(model)
        >>> with outputs, inputs:
        ...     _ = model(torch.rand(3, 4))
        >>> outputs.get_record_data().shape
        torch.Size([3, 2])
        >>> inputs.get_record_data(data_idx=0).shape  # the first input
        torch.Size([3, 4])
    """

    def prepare_from_model(self, model: Optional[nn.Module]) -> None:
        if model is None:
            raise ValueError(f'{type(self).__name__} needs the model to find '
                             f'source={self.source!r}.')
        names = [name for name, _ in model.named_modules() if name]
        if self.source not in names:
            raise ValueError(
                f'{type(self).__name__}: source={self.source!r} names no '
                f'module of {type(model).__name__}. Valid module names '
                f'include: {preview(names, limit=40)}')
        self.register_hook(model.get_submodule(self.source))

    def register_hook(self, module: nn.Module) -> None:
        raise NotImplementedError


@RECORDERS.register_module()
class ModuleOutputs(ModuleRecorder):
    """Record the outputs of a submodule with a forward hook.

    Arguments and example: :class:`ModuleRecorder`.
    """

    def register_hook(self, module: nn.Module) -> None:
        module.register_forward_hook(self._forward_hook)

    def _forward_hook(self, module, inputs, outputs):
        self.record(outputs)


@RECORDERS.register_module()
class ModuleInputs(ModuleRecorder):
    """Record the positional inputs of a submodule (a tuple).

    Use ``data_idx`` to pick one, e.g. ``data_idx=1`` on
    ``head.loss_module`` gives the ground-truth labels or mixed scores.
    Arguments and example: :class:`ModuleRecorder`.
    """

    def register_hook(self, module: nn.Module) -> None:
        module.register_forward_pre_hook(self._forward_pre_hook)

    def _forward_pre_hook(self, module, inputs):
        self.record(inputs)
