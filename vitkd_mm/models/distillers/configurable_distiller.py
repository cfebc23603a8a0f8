from contextlib import contextmanager, nullcontext
from typing import Dict, Optional

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.registry import DefaultScope
from torch import nn

from vitkd_mm.registry import MODELS
from vitkd_mm.utils import build_component
from ..losses.alignment import metric_names
from ..recorders import RecorderManager, RecordsComplete
from .loss_mapping import (RecordSpec, check_call_arguments,
                           check_shared_connector_calls, parse_entry,
                           record_demands)


def _build_named(key: str, cfgs: Optional[dict]) -> nn.ModuleDict:
    """Build ``{name: cfg}`` in the vitkd_mm scope, whatever the caller's."""
    modules = nn.ModuleDict()
    with DefaultScope.overwrite_default_scope('vitkd_mm'):
        for name, cfg in (cfgs or {}).items():
            modules[name] = build_component(MODELS, f'{key}.{name}', cfg)
    return modules


def _check_loss_names(names) -> None:
    for name in names:
        if 'loss' not in name:
            raise KeyError(
                f'distill_losses.{name}: a loss name must contain "loss" '
                f'(e.g. loss_{name}): mmengine sums only the log keys that '
                f'contain "loss" into the loss it trains, so distill.{name} '
                'would be logged but never trained.')


@MODELS.register_module()
class ConfigurableDistiller(BaseModule):
    """Wire recorders, connectors and losses from a config, MMRazor style.

    Each distillation loss is called with keyword arguments taken from the
    recorders, as ``loss_forward_mappings`` describes. An entry
    ``dict(recorder='deep', from_student=True, record_idx=0, data_idx=None,
    connector='gen', connector_idx=0)`` reads the first value the student
    recorder ``deep`` recorded, passes it through connector ``gen`` and takes
    element 0 of the connector's output. ``connector_kwargs=dict(hw_shape=
    <entry>)`` passes further recorded values to the connector (e.g. the
    token grid of a detection input, the second output of
    ``backbone.patch_embed``). A connector is run once per step for each
    input it gets, however many entries read it, so e.g. the masked
    prediction and its mask come from the same random draw.

    The whole mapping is checked at build time: loss, recorder and connector
    names, loss argument names, required arguments, index types. Connectors
    that no entry uses are not built (they would get no gradient, which
    breaks DDP), with a warning.

    Args:
        student_recorders (dict, optional): ``{name: recorder cfg}``.
        teacher_recorders (dict, optional): ``{name: recorder cfg}``.
        connectors (dict, optional): ``{name: connector cfg}``.
        distill_losses (dict, optional): ``{loss name: loss cfg}``; the names
            become the logged keys (``distill.<name>``) and must contain
            ``loss`` (mmengine trains only such keys).
        loss_forward_mappings (dict, optional): ``{loss name: {argument:
            entry}}``.
        alignment_metrics (bool): Also return, for each loss that has an
            ``alignment`` method, its metrics of the same inputs (the mean
            token cosine of ``MimicLoss``/``GenerationLoss``, the top-1
            agreement of ``NKDLoss``), computed under ``no_grad`` and named
            without ``loss`` (``cos_mimic_0``, ``cos_gen_masked``,
            ``agree_top1_nkd``), so they are logged, never trained.
            Defaults to True.
        init_cfg (dict, optional): Initialisation config.

    Examples:
        >>> distiller = ConfigurableDistiller(
        ...     student_recorders=dict(
        ...         out=dict(type='ModuleOutputs', source='fc')),
        ...     teacher_recorders=dict(
        ...         out=dict(type='ModuleOutputs', source='fc')),
        ...     distill_losses=dict(loss_mimic=dict(type='MimicLoss')),
        ...     loss_forward_mappings=dict(loss_mimic=dict(
        ...         preds_S=dict(recorder='out', from_student=True),
        ...         preds_T=dict(recorder='out', from_student=False))))
    """

    def __init__(self,
                 student_recorders: Optional[dict] = None,
                 teacher_recorders: Optional[dict] = None,
                 connectors: Optional[dict] = None,
                 distill_losses: Optional[dict] = None,
                 loss_forward_mappings: Optional[dict] = None,
                 alignment_metrics: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        self.alignment_metrics = alignment_metrics
        _check_loss_names(distill_losses or {})
        self.student_recorders = RecorderManager(student_recorders,
                                                 'student_recorders')
        self.teacher_recorders = RecorderManager(teacher_recorders,
                                                 'teacher_recorders')
        self.distill_losses = _build_named('distill_losses', distill_losses)
        self.loss_specs = self._parse_mappings(loss_forward_mappings or {},
                                               connectors or {})
        used = {
            spec.connector
            for arguments in self.loss_specs.values()
            for spec in arguments.values() if spec.connector is not None
        }
        for name in sorted(set(connectors or {}) - used):
            print_log(
                f'connectors.{name} is used by no loss_forward_mappings '
                'entry and is not built.', 'current', 30)
        self.connectors = _build_named('connectors', {
            k: v
            for k, v in (connectors or {}).items() if k in used
        })
        for loss_name, arguments in self.loss_specs.items():
            for argument, spec in arguments.items():
                if spec.connector_kwargs:
                    check_call_arguments(
                        f'loss_forward_mappings.{loss_name}.{argument}.'
                        'connector_kwargs',
                        self.connectors[spec.connector],
                        [name for name, _ in spec.connector_kwargs],
                        inputs_given=1)
        self.student_recorders.set_demands(
            record_demands(self.loss_specs, from_student=True))
        self.teacher_recorders.set_demands(
            record_demands(self.loss_specs, from_student=False))

    def _parse_mappings(self, mappings: dict,
                        connectors: dict) -> Dict[str, Dict[str, RecordSpec]]:
        losses = list(self.distill_losses)
        for name in mappings:
            if name not in self.distill_losses:
                raise KeyError(
                    f'loss_forward_mappings.{name} names no loss in '
                    f'distill_losses. Valid choices: {", ".join(losses)}.')
        specs = {}
        for name, loss in self.distill_losses.items():
            if name not in mappings:
                raise KeyError(f'distill_losses.{name} has no entry in '
                               'loss_forward_mappings.')
            key = f'loss_forward_mappings.{name}'
            arguments = mappings[name]
            check_call_arguments(key, loss, list(arguments))
            specs[name] = {
                argument:
                parse_entry(f'{key}.{argument}', entry,
                            self.student_recorders.recorders,
                            self.teacher_recorders.recorders, connectors)
                for argument, entry in arguments.items()
            }
        check_shared_connector_calls(specs)
        return specs

    def prepare_from_student(self, model: nn.Module) -> None:
        """Attach the student recorders to the student model."""
        self.student_recorders.initialize(model)

    def prepare_from_teacher(self, model: nn.Module) -> None:
        """Attach the teacher recorders to the teacher model."""
        self.teacher_recorders.initialize(model)

    @contextmanager
    def record_teacher(self,
                       stop_early: bool = True,
                       cast_to: Optional[torch.dtype] = None):
        """Record the teacher's forward that runs inside the block.

        The teacher recorders record inside; with ``stop_early`` the
        forward ends as soon as every value the losses read exists (the
        recorder manager raises :class:`RecordsComplete`, which ends the
        block here); then the floating tensors recorded are cast to
        ``cast_to`` (the student's dtype, after a bf16 teacher), and every
        value the losses read must exist (an ``IndexError`` naming the
        mapping entry otherwise).

        Args:
            stop_early (bool): Stop the forward once the losses' values
                exist (a frozen teacher). Defaults to True.
            cast_to (torch.dtype, optional): Cast the records to it.

        Examples:
            >>> with distiller.record_teacher(  # doctest: +SKIP
            ...         cast_to=torch.float32), torch.no_grad():
            ...     teacher(inputs, mode='tensor')
        """
        recorders = self.teacher_recorders
        stop = recorders.stop_when_complete if stop_early else nullcontext
        with recorders:
            try:
                with stop():
                    yield
            except RecordsComplete:
                pass
        if cast_to is not None:
            recorders.cast_records(cast_to)
        recorders.check_complete()

    def compute_distill_losses(self) -> Dict[str, object]:
        """Compute every loss from the values recorded in the last step,
        followed by their alignment metrics (see ``alignment_metrics``)."""
        losses, metrics = {}, {}
        for name, kwargs in self.loss_inputs().items():
            loss = self.distill_losses[name]
            try:
                losses[name] = loss(**kwargs)
            except ValueError as error:
                raise ValueError(f'distill_losses.{name}: {error}') from error
            if self.alignment_metrics and hasattr(loss, 'alignment'):
                with torch.no_grad():
                    metrics.update(
                        metric_names(name, loss.alignment(**kwargs)))
        return {**losses, **metrics}

    def loss_inputs(self, names: Optional[list] = None) -> Dict[str, dict]:
        """``{loss name: keyword arguments}`` of the losses ``names`` (None:
        all), read from the values recorded in the last step (each connector
        run once)."""
        connector_outputs = {}
        return {
            name: {
                argument: self._get_record(spec, connector_outputs)
                for argument, spec in arguments.items()
            }
            for name, arguments in self.loss_specs.items()
            if names is None or name in names
        }

    def read_record(self, spec: RecordSpec):
        """The recorded value a mapping entry reads, before its connector."""
        recorders = (
            self.student_recorders
            if spec.from_student else self.teacher_recorders)
        try:
            return recorders.get_recorder(spec.recorder).get_record_data(
                spec.record_idx, spec.data_idx)
        except (IndexError, TypeError) as error:
            raise type(error)(f'{spec.key} ({recorders.key}.'
                              f'{spec.recorder}): {error}') from error

    def _get_record(self, spec: RecordSpec, connector_outputs: dict):
        if spec.connector is None:
            return self.read_record(spec)
        key = spec.connector_call_key
        if key not in connector_outputs:
            kwargs = {
                name: self.read_record(sub_spec)
                for name, sub_spec in spec.connector_kwargs
            }
            connector_outputs[key] = self.connectors[spec.connector](
                self.read_record(spec), **kwargs)
        output = connector_outputs[key]
        return output if spec.connector_idx is None else output[
            spec.connector_idx]
