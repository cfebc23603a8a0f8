from abc import ABCMeta, abstractmethod
from typing import Any, Callable, List, Optional

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
        #: Called after each recorded value (the recorder manager's early
        #: exit); None records silently.
        self.after_record: Optional[Callable[[], None]] = None

    def initialize(self, model: Optional[nn.Module] = None) -> None:
        """Attach the recorder to ``model`` (hooks, or the patch target)."""
        self.prepare_from_model(model)

    @abstractmethod
    def prepare_from_model(self, model: Optional[nn.Module]) -> None:
        """Find the source in ``model`` so values can reach the buffer."""

    def reset_data(self) -> None:
        self.data_buffer = []

    def record(self, data: Any) -> None:
        """Append ``data`` to the buffer if inside the context."""
        if self.recording:
            self.data_buffer.append(data)
            if self.after_record is not None:
                self.after_record()

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
                f'{self} recorded {len(self.data_buffer)} value(s) in the '
                f'last forward, record_idx={record_idx} is out of range. Was '
                'the source called that often in that forward?')
        data = self.data_buffer[record_idx]
        if data_idx is None:
            return data
        if not isinstance(data, (list, tuple)):
            raise TypeError(f'{self} recorded a {type(data).__name__}, '
                            f'which data_idx={data_idx} cannot index.')
        if data_idx >= len(data):
            raise IndexError(f'{self} recorded {len(data)} value(s) per '
                             f'call, data_idx={data_idx} is out of range.')
        return data[data_idx]

    def __repr__(self) -> str:
        return f'{type(self).__name__}(source={self.source!r})'

    def __enter__(self):
        self.reset_data()
        self.recording = True
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.recording = False
