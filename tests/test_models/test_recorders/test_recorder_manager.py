"""RecorderManager: recorder configs, the records the losses demand, the
early exit of a forward once they are recorded, and casting records."""
import pytest
import torch
from torch import nn

from tests.utils import fake_batch, optim_for, tiny_distill_cfg
from vitkd_mm.models.recorders import (RecorderManager, RecordsComplete,
                                       cast_floats)
from vitkd_mm.registry import MODELS

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def test_recorder_manager_unknown_type():
    with pytest.raises(KeyError, match='student_recorders.deep'):
        RecorderManager(
            dict(deep=dict(type='NoSuchRecorder', source='x')),
            'student_recorders')


def test_record_idx_beyond_the_teacher_calls_names_entry_and_side():
    cfg = tiny_distill_cfg()
    cfg.distiller.loss_forward_mappings.loss_mimic.preds_T.record_idx = 3
    model = MODELS.build(cfg)
    student_calls = []
    model.architecture.register_forward_pre_hook(
        lambda *args: student_calls.append(1))
    with pytest.raises(IndexError) as error:
        model.train_step(fake_batch(), optim_for(model))
    assert str(error.value) == (
        'loss_forward_mappings.loss_mimic.preds_T.record_idx reads call 3 '
        '(record_idx) of teacher_recorders.block0 = ModuleOutputs('
        "source='backbone.layers.0'), but the last forward recorded 1 "
        'call(s) of it.')
    assert student_calls == []  # stopped right after the teacher


def test_records_complete_escapes_except_exception():
    assert not issubclass(RecordsComplete, Exception)


class SwallowingBackbone(nn.Module):
    """A third-party forward that catches every Exception of its layers."""

    def __init__(self, backbone):
        super().__init__()
        self.inner = backbone

    def forward(self, x):
        try:
            return self.inner(x)
        except Exception:  # noqa: B902
            return self.inner(x)


def test_early_exit_passes_a_forward_that_catches_exception():
    model = MODELS.build(tiny_distill_cfg())
    backbone = model.teacher.backbone
    model.teacher.backbone = SwallowingBackbone(backbone)
    block0 = model.distiller.teacher_recorders.get_recorder('block0')
    block0_calls, block1_calls = [], []
    backbone.layers[0].register_forward_pre_hook(
        lambda *args: block0_calls.append(1))
    backbone.layers[1].register_forward_pre_hook(
        lambda *args: block1_calls.append(1))
    model.train_step(fake_batch(), optim_for(model))
    assert block0_calls == [1] and block1_calls == []
    assert len(block0.data_buffer) == 1


def test_early_exit_with_a_method_recorder():
    """A teacher recorder that patches the encoder layers' ``forward``: the
    teacher stops right after its first layer, as with a module hook."""
    cfg = tiny_distill_cfg()
    cfg.distiller.teacher_recorders.block0 = dict(
        type='MethodOutputs',
        source='mmpretrain.models.backbones.vision_transformer.'
        'TransformerEncoderLayer.forward')
    model = MODELS.build(cfg)
    layers = model.teacher.backbone.layers
    calls = []
    layers[1].register_forward_pre_hook(lambda *args: calls.append('1'))
    model.teacher.head.register_forward_pre_hook(
        lambda *args: calls.append('head'))
    logs = model.train_step(fake_batch(), optim_for(model))
    assert calls == [] and torch.isfinite(logs['distill.loss_mimic'])
    recorder = model.distiller.teacher_recorders.get_recorder('block0')
    assert len(recorder.data_buffer) == 1
    data = model.data_preprocessor(fake_batch(), True)
    with torch.no_grad():
        tokens = model.teacher.backbone.patch_embed(data['inputs'])[0]
        cls_token = model.teacher.backbone.cls_token.expand(4, -1, -1)
        tokens = torch.cat([cls_token, tokens], dim=1)
        tokens = tokens + model.teacher.backbone.pos_embed
        expected = layers[0](model.teacher.backbone.pre_norm(tokens))
    torch.testing.assert_close(recorder.get_record_data(), expected)


def test_stop_when_complete_without_demands_runs_in_full():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    manager = RecorderManager(dict(a=dict(type='ModuleOutputs', source='0')))
    manager.initialize(model)
    calls = []
    model[1].register_forward_pre_hook(lambda *args: calls.append(1))
    with manager, manager.stop_when_complete():
        model(torch.rand(1, 2))
    assert calls == [1]
    manager.set_demands({'a': (1, 'key')})
    with manager:
        with pytest.raises(RecordsComplete):
            with manager.stop_when_complete():
                model(torch.rand(1, 2))
    assert calls == [1]  # the second forward stopped after model[0]
    assert manager.get_recorder('a').after_record is None


def test_cast_floats_keeps_structure_and_integers():
    labels = torch.tensor([1, 2])
    value = dict(
        a=(torch.ones(2, dtype=torch.bfloat16), labels),
        b=[torch.zeros(1, dtype=torch.float16)],
        c='text')
    cast = cast_floats(value, torch.float32)
    assert cast['a'][0].dtype == torch.float32 and cast['a'][1] is labels
    assert isinstance(cast['a'], tuple) and isinstance(cast['b'], list)
    assert cast['b'][0].dtype == torch.float32 and cast['c'] == 'text'
