from contextlib import ExitStack, contextmanager
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from vitkd_mm.registry import RECORDERS
from vitkd_mm.utils import build_component
from .base_recorder import BaseRecorder


def cast_floats(value: Any, dtype: torch.dtype) -> Any:
    """``value`` with every floating-point tensor in it cast to ``dtype``.

    Tuples, lists and dicts are rebuilt; anything else (integer labels,
    data samples) is returned as is.

    Examples:
        >>> cast_floats((torch.ones(2, dtype=torch.bfloat16),
        ...              torch.tensor([3])), torch.float32)
        (tensor([1., 1.]), tensor([3]))
    """
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, (tuple, list)):
        return type(value)(cast_floats(item, dtype) for item in value)
    if isinstance(value, dict):
        return {key: cast_floats(item, dtype) for key, item in value.items()}
    return value


class RecordsComplete(BaseException):
    """Stops a forward once every demanded value is recorded.

    A ``BaseException``, so an ``except Exception`` in third-party forward
    code cannot swallow it; the algorithm catches it around the teacher's
    forward, in one place.
    """


class RecorderManager:
    """Build named recorders from configs and record with all of them.

    The manager also knows how many calls of each recorder the losses read
    (:meth:`set_demands`): :meth:`stop_when_complete` stops a forward as
    soon as those values exist, and :meth:`check_complete` names the loss
    argument whose value a forward did not produce.

    Args:
        recorders (dict, optional): ``{name: recorder config}``, e.g.
            ``dict(deep=dict(type='ModuleOutputs', source='backbone.ln1'))``.
        key (str): Config key the recorders come from, used in errors
            (``'student_recorders'`` or ``'teacher_recorders'``).

    Examples:
        >>> import torch
        >>> model = torch.nn.Sequential(
        ...     torch.nn.Linear(4, 2), torch.nn.Linear(2, 2))
        >>> manager = RecorderManager(
        ...     dict(out=dict(type='ModuleOutputs', source='0')))
        >>> manager.initialize(model)
        >>> manager.set_demands({'out': (1, 'loss_forward_mappings.loss.x')})
        >>> with manager:
        ...     try:
        ...         with manager.stop_when_complete():
        ...             _ = model(torch.rand(3, 4))  # stops after model[0]
        ...     except RecordsComplete:
        ...         pass
        >>> manager.get_recorder('out').get_record_data().shape
        torch.Size([3, 2])
    """

    def __init__(self,
                 recorders: Optional[Dict[str, dict]] = None,
                 key: str = 'recorders') -> None:
        self.key = key
        self.recorders: Dict[str, BaseRecorder] = {
            name: build_component(RECORDERS, f'{key}.{name}', cfg)
            for name, cfg in (recorders or {}).items()
        }
        self.demands: Dict[str, Tuple[int, str]] = {}
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

    def set_demands(self, demands: Dict[str, Tuple[int, str]]) -> None:
        """Declare what the losses read.

        Args:
            demands (dict): ``{recorder name: (number of calls, config key
                of the loss argument that reads the last of them)}``.
        """
        unknown = sorted(set(demands) - set(self.recorders))
        if unknown:
            raise KeyError(f'{self.key} has no recorder(s) {unknown}.')
        self.demands = dict(demands)

    def complete(self) -> bool:
        """Whether every demanded value has been recorded."""
        return all(
            len(self.recorders[name].data_buffer) >= count
            for name, (count, _) in self.demands.items())

    def _stop_if_complete(self) -> None:
        if self.complete():
            raise RecordsComplete

    @contextmanager
    def stop_when_complete(self):
        """Inside, :class:`RecordsComplete` ends the forward as soon as every
        demand is met, right after the value that met it is recorded (with
        module hooks and method patches alike). Without demands the forward
        runs in full."""
        demanded = [self.recorders[name] for name in self.demands]
        for recorder in demanded:
            recorder.after_record = self._stop_if_complete
        try:
            yield
        finally:
            for recorder in demanded:
                recorder.after_record = None

    def cast_records(self, dtype: torch.dtype) -> None:
        """Cast the floating tensors every recorder caught to ``dtype``."""
        for recorder in self.recorders.values():
            recorder.data_buffer = [
                cast_floats(data, dtype) for data in recorder.data_buffer
            ]

    def check_complete(self) -> None:
        """Raise an IndexError naming the first loss argument whose value
        the last forward did not record."""
        for name, (count, argument) in self.demands.items():
            recorder = self.recorders[name]
            if len(recorder.data_buffer) < count:
                raise IndexError(
                    f'{argument} reads call {count - 1} (record_idx) of '
                    f'{self.key}.{name} = {recorder}, but the last forward '
                    f'recorded {len(recorder.data_buffer)} call(s) of it.')

    def __enter__(self):
        self._stack = ExitStack()
        for recorder in self.recorders.values():
            self._stack.enter_context(recorder)
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self._stack.close()
        self._stack = None
