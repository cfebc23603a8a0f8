"""Parse and check ``loss_forward_mappings`` entries."""
from dataclasses import dataclass, field
from typing import Dict, Iterable, Optional, Tuple

from torch import nn

from vitkd_mm.utils.build import argument_mismatch

_ENTRY_KEYS = ('recorder', 'from_student', 'record_idx', 'data_idx',
               'connector', 'connector_idx', 'connector_kwargs')


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
        connector_kwargs (tuple): ``(name, RecordSpec)`` pairs: further
            recorded values the connector gets as keyword arguments, e.g.
            the token grid ``hw_shape`` of a detection input.
        key (str): The entry's config path, for errors (not compared).
    """
    recorder: str
    from_student: bool
    record_idx: int = 0
    data_idx: Optional[int] = None
    connector: Optional[str] = None
    connector_idx: Optional[int] = None
    connector_kwargs: Tuple[Tuple[str, 'RecordSpec'], ...] = ()
    key: str = field(default='', compare=False)

    @property
    def connector_call_key(self) -> Tuple:
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
    side, names = (('student_recorders',
                    student_recorders) if from_student else
                   ('teacher_recorders', teacher_recorders))
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
    kwargs = entry.get('connector_kwargs') or {}
    if kwargs and connector is None:
        raise KeyError(f'{key}.connector_kwargs is set but no connector is.')
    if not isinstance(kwargs, dict):
        raise TypeError(f'{key}.connector_kwargs must be a dict of '
                        f'entries, got {kwargs!r}.')
    for name, sub_entry in kwargs.items():
        if isinstance(sub_entry, dict) and 'connector' in sub_entry:
            raise KeyError(f'{key}.connector_kwargs.{name} cannot have a '
                           'connector of its own.')
    entry = dict(entry)
    entry['connector_kwargs'] = tuple(
        (name,
         parse_entry(f'{key}.connector_kwargs.{name}', sub_entry,
                     student_recorders, teacher_recorders, connectors))
        for name, sub_entry in sorted(kwargs.items()))
    return RecordSpec(**entry, key=key)


def check_call_arguments(key: str,
                         module: nn.Module,
                         arguments: Iterable[str],
                         inputs_given: int = 0) -> None:
    """Check mapped argument names against ``module.forward``'s signature.

    Args:
        key (str): Config path of the mapping, for error messages.
        module (nn.Module): A loss or a connector.
        arguments (Iterable[str]): The keyword arguments the mapping gives.
        inputs_given (int): Leading positional parameters that are passed
            anyway (1 for a connector: the record itself).
    """
    accepted, unknown, missing = argument_mismatch(module.forward, arguments,
                                                   inputs_given)
    if unknown:
        raise KeyError(
            f'{key}: {type(module).__name__}.forward takes no argument(s) '
            f'{unknown}. Valid arguments: {", ".join(accepted)}.')
    if missing:
        raise KeyError(f'{key}: required argument(s) {missing} of '
                       f'{type(module).__name__}.forward are not mapped.')


def check_shared_connector_calls(
        specs: Dict[str, Dict[str, RecordSpec]]) -> None:
    """Entries reading one connector call must agree on its kwargs.

    Such entries share one call (e.g. the generated tokens and the mask of
    one random draw), so their ``connector_kwargs`` must be identical.
    """
    seen: Dict[Tuple, Tuple[str, RecordSpec]] = {}
    for loss_name, arguments in specs.items():
        for argument, spec in arguments.items():
            if spec.connector is None:
                continue
            key = f'loss_forward_mappings.{loss_name}.{argument}'
            first = seen.setdefault(spec.connector_call_key, (key, spec))
            if first[1].connector_kwargs != spec.connector_kwargs:
                raise KeyError(
                    f'{key} and {first[0]} read the same call of connector '
                    f'{spec.connector!r} but give it different '
                    'connector_kwargs; give both the same.')


def record_demands(specs: Dict[str, Dict[str, RecordSpec]],
                   from_student: bool) -> Dict[str, Tuple[int, str]]:
    """What the mapped losses read from one side's recorders.

    Returns:
        dict: ``{recorder: (number of calls read, key of the entry that
        reads the last one)}``.
    """
    demands: Dict[str, Tuple[int, str]] = {}
    for arguments in specs.values():
        for spec in arguments.values():
            for used in (spec, *(sub for _, sub in spec.connector_kwargs)):
                count = used.record_idx + 1
                if (used.from_student == from_student
                        and count > demands.get(used.recorder, (0, ''))[0]):
                    demands[used.recorder] = (count, f'{used.key}.record_idx')
    return demands
