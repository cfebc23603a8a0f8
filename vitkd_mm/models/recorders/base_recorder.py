from abc import ABCMeta, abstractmethod
from typing import Any, List, Optional

from torch import nn


class BaseRecorder(metaclass=ABCMeta):
    """Capture a value during a forward pass, only inside a ``with`` block.

    A recorder is attached to a model once (:meth:`initialize`); afterwards
    every value it sees is appended to :attr:`data_buffer`, but only while
    recording, i.e. inside ``with recorder:``. Entering the context empties
    the buffer, so nothing leaks from one step into the next. The buffer
    stays readable after the context exits.

    Args:
        source (str): What to record: a module name (``'backbone.ln1'``),
            a method path or a function path, depending on the subclass.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.recording = False
        self.data_buffer: List[Any] = []
        self.initialized = False

    def initialize(self, model: Optional[nn.Module] = None) -> None:
        """Attach the recorder (hooks or patches) to ``model``."""
        self.prepare_from_model(model)
        self.initialized = True

    @abstractmethod
    def prepare_from_model(self, model: Optional[nn.Module]) -> None:
        """Register hooks or patch methods so values reach the buffer."""

    def reset_data(self) -> None:
        self.data_buffer = []

    def record(self, data: Any) -> None:
        """Append ``data`` to the buffer if inside the context."""
        if self.recording:
            self.data_buffer.append(data)

    def get_record_data(self,
                        record_idx: int = 0,
                        data_idx: Optional[int] = None) -> Any:
        """Return one recorded value.

        Args:
            record_idx (int): Which call of the source, in call order (a
                module used twice in one forward records twice).
            data_idx (int, optional): Index into a tuple/list value, e.g. the
                second positional input of a module. ``None`` returns the
                whole value.
        """
        if record_idx >= len(self.data_buffer):
            raise IndexError(
                f'{type(self).__name__}(source={self.source!r}) recorded '
                f'{len(self.data_buffer)} value(s) in the last forward, '
                f'record_idx={record_idx} is out of range. Was the source '
                'called in that forward?')
        data = self.data_buffer[record_idx]
        if data_idx is None:
            return data
        if not isinstance(data, (list, tuple)):
            raise TypeError(
                f'{type(self).__name__}(source={self.source!r}) recorded a '
                f'{type(data).__name__}, which data_idx={data_idx} cannot '
                'index.')
        return data[data_idx]

    def __enter__(self):
        self.reset_data()
        self.recording = True
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.recording = False
