from contextlib import ExitStack
from typing import Dict, Optional

from torch import nn

from vitkd_mm.registry import RECORDERS
from .base_recorder import BaseRecorder


class RecorderManager:
    """Build named recorders from configs and record with all of them.

    Args:
        recorders (dict, optional): ``{name: recorder config}``, e.g.
            ``dict(deep=dict(type='ModuleOutputs', source='backbone.ln1'))``.
        key (str): Config key the recorders come from, used in errors
            (``'student_recorders'`` or ``'teacher_recorders'``).

    Examples:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 2))
        >>> manager = RecorderManager(
        ...     dict(out=dict(type='ModuleOutputs', source='0')))
        >>> manager.initialize(model)
        >>> with manager:
        ...     _ = model(torch.rand(3, 4))
        >>> manager.get_recorder('out').get_record_data().shape
        torch.Size([3, 2])
    """

    def __init__(self,
                 recorders: Optional[Dict[str, dict]] = None,
                 key: str = 'recorders') -> None:
        self.key = key
        self.recorders: Dict[str, BaseRecorder] = {}
        for name, cfg in (recorders or {}).items():
            if not isinstance(cfg, dict) or 'type' not in cfg:
                raise TypeError(
                    f'{key}.{name} must be a dict with a "type", got {cfg!r}.')
            try:
                self.recorders[name] = RECORDERS.build(cfg)
            except KeyError as error:
                raise KeyError(
                    f'{key}.{name}: unknown recorder type {cfg["type"]!r}. '
                    f'Valid types: {sorted(RECORDERS.module_dict)}') from error
        self._stack: Optional[ExitStack] = None

    def initialize(self, model: nn.Module) -> None:
        """Attach every recorder to ``model``."""
        for name, recorder in self.recorders.items():
            try:
                recorder.initialize(model)
            except ValueError as error:
                raise ValueError(f'{self.key}.{name}: {error}') from error

    def get_recorder(self, name: str) -> BaseRecorder:
        return self.recorders[name]

    def __contains__(self, name: str) -> bool:
        return name in self.recorders

    def __enter__(self):
        self._stack = ExitStack()
        for recorder in self.recorders.values():
            self._stack.enter_context(recorder)
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self._stack.close()
        self._stack = None
