"""Parse and check ``loss_forward_mappings`` entries."""
import inspect
from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Tuple

from torch import nn

_ENTRY_KEYS = ('recorder', 'from_student', 'record_idx', 'data_idx',
               'connector', 'connector_idx')


@dataclass(frozen=True)
class RecordSpec:
    """Where one loss argument comes from.

    Attributes:
        recorder (str): Name of a student or teacher recorder.
        from_student (bool): Which side's recorders ``recorder`` names.
        record_idx (int): Which call of the recorded source.
        data_idx (int, optional): Index into a tuple record.
        connector (str, optional): Connector applied to the record.
        connector_idx (int, optional): Index into a tuple connector output.
    """
    recorder: str
    from_student: bool
    record_idx: int = 0
    data_idx: Optional[int] = None
    connector: Optional[str] = None
    connector_idx: Optional[int] = None

    @property
    def connector_input(self) -> Tuple:
        """The key of the connector call this spec shares with others."""
        return (self.from_student, self.recorder, self.record_idx,
                self.data_idx, self.connector)


def _choices(names: Iterable[str]) -> str:
    return ', '.join(sorted(names)) or '(none)'


def _check_index(key: str, name: str, value, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f'{key}.{name} must be a non-negative int'
                        f'{" or None" if optional else ""}, got {value!r}.')


def parse_entry(key: str, entry: dict, student_recorders: Iterable[str],
                teacher_recorders: Iterable[str],
                connectors: Iterable[str]) -> RecordSpec:
    """Turn one mapping entry into a :class:`RecordSpec`, checking it.

    Args:
        key (str): The entry's config path, for error messages, e.g.
            ``'loss_forward_mappings.loss_gen.preds_S'``.
        entry (dict): ``dict(recorder=..., from_student=..., ...)``.
    """
    if not isinstance(entry, dict):
        raise TypeError(f'{key} must be a dict with keys {_ENTRY_KEYS}, '
                        f'got {entry!r}.')
    unknown = set(entry) - set(_ENTRY_KEYS)
    if unknown:
        raise KeyError(f'{key} has unknown key(s) {sorted(unknown)}. '
                       f'Valid keys: {", ".join(_ENTRY_KEYS)}.')
    for required in ('recorder', 'from_student'):
        if required not in entry:
            raise KeyError(f'{key} is missing {required!r}.')
    from_student = entry['from_student']
    if not isinstance(from_student, bool):
        raise TypeError(f'{key}.from_student must be True or False, '
                        f'got {from_student!r}.')
    side, names = (('student_recorders', student_recorders) if from_student
                   else ('teacher_recorders', teacher_recorders))
    if entry['recorder'] not in names:
        raise KeyError(f'{key}.recorder={entry["recorder"]!r} is not in '
                       f'{side}. Valid choices: {_choices(names)}.')
    connector = entry.get('connector')
    if connector is not None and connector not in connectors:
        raise KeyError(f'{key}.connector={connector!r} is not in connectors. '
                       f'Valid choices: {_choices(connectors)}.')
    _check_index(key, 'record_idx', entry.get('record_idx', 0), False)
    _check_index(key, 'data_idx', entry.get('data_idx'), True)
    _check_index(key, 'connector_idx', entry.get('connector_idx'), True)
    if entry.get('connector_idx') is not None and connector is None:
        raise KeyError(f'{key}.connector_idx is set but no connector is.')
    return RecordSpec(**entry)


def check_loss_arguments(key: str, loss: nn.Module,
                         arguments: Iterable[str]) -> None:
    """Check mapped argument names against ``loss.forward``'s signature."""
    params = inspect.signature(loss.forward).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    accepted = [
        name for name, p in params.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    unknown = [name for name in arguments if name not in accepted]
    if unknown:
        raise KeyError(
            f'{key}: {type(loss).__name__}.forward takes no argument(s) '
            f'{unknown}. Valid arguments: {", ".join(accepted)}.')
    missing = [
        name for name in accepted
        if params[name].default is inspect.Parameter.empty
        and name not in arguments
    ]
    if missing:
        raise KeyError(f'{key}: required argument(s) {missing} of '
                       f'{type(loss).__name__}.forward are not mapped.')


def teacher_demands(specs: Dict[str, Dict[str, RecordSpec]]) -> Dict[str, int]:
    """How many calls of each teacher recorder the mapped losses read."""
    demands: Dict[str, int] = {}
    for arguments in specs.values():
        for spec in arguments.values():
            if not spec.from_student:
                demands[spec.recorder] = max(
                    demands.get(spec.recorder, 0), spec.record_idx + 1)
    return demands
