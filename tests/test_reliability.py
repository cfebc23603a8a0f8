"""No silent wrong training: each probe of issue 12 as a test."""
import copy
import gc
import weakref

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from torch import nn

from tests.utils import fake_batch, tiny_distill_cfg
from vitkd_mm.models import (GenerationConnector, GenerationLoss, MimicLoss,
                             NKDLoss)
from vitkd_mm.models.recorders import (MethodOutputs, RecorderManager,
                                       RecordsComplete)
from vitkd_mm.registry import MODELS

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def optim_for(model):
    return OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))


# ------------------------------------------- 1. loss names without 'loss'
def test_distill_loss_name_without_loss_is_refused():
    cfg = tiny_distill_cfg()
    losses = cfg.distiller.distill_losses
    mappings = cfg.distiller.loss_forward_mappings
    losses['mimic'] = losses.pop('loss_mimic')
    mappings['mimic'] = mappings.pop('loss_mimic')
    with pytest.raises(
            KeyError,
            match=r'distill_losses.mimic: a loss name '
            r'must contain "loss" \(e.g. loss_mimic\)'):
        MODELS.build(cfg)


# ------------------------------------ 4. generation loss and its mask ratio
def test_generation_loss_refuses_a_mask_of_another_ratio():
    connector = GenerationConnector(
        8, 8, mask_ratio=0.75, patch_resolution=(14, 14))
    generated, mask = connector(torch.rand(2, 1 + 196, 8))
    with pytest.raises(
            ValueError,
            match=r'mask_ratio=0.5 masks 98 of N=196 '
            r'tokens, but the mask given masks \[147.0, 147.0\]'):
        GenerationLoss(mask_ratio=0.5)(generated, torch.rand(2, 196, 8), mask)


def test_a_ratio_the_grid_cannot_realise_is_refused():
    # 1e-4 of 16 tokens masks one token: the loss would be 625 x too large
    connector = GenerationConnector(
        8, 8, mask_ratio=1e-4, patch_resolution=(4, 4))
    with pytest.raises(
            ValueError,
            match=r'mask_ratio=0.0001 cannot be '
            r'realised on N=16 tokens: .* 1 of 16 .*625.00 x'):
        connector(torch.rand(2, 1 + 16, 8))
    one_of_16 = torch.zeros(2, 16)
    one_of_16[:, 3] = 1
    with pytest.raises(ValueError, match='cannot be realised on N=16'):
        GenerationLoss(mask_ratio=1e-4)(torch.rand(2, 16, 8),
                                        torch.rand(2, 16, 8), one_of_16)


@pytest.mark.parametrize('grid', [(14, 14), (7, 7)])  # DeiT, Fashion-MNIST
def test_recipe_generation_loss_values_unchanged(grid):
    """The DeiT (196 tokens) and Fashion-MNIST (49 tokens) settings give the
    loss of the formula they were trained with, ``beta / 0.5 * sum / B``, on
    the same seeded draw."""
    N = grid[0] * grid[1]
    torch.manual_seed(0)
    connector = GenerationConnector(
        8, 16, mask_ratio=0.5, patch_resolution=grid)
    target = torch.rand(2, N, 16)
    generated, mask = connector(torch.rand(2, 1 + N, 8))
    loss = GenerationLoss(
        loss_weight=3e-6, mask_ratio=0.5)(generated, target, mask)
    masked_sum = sum(((generated[b, n] - target[b, n])**2).sum().item()
                     for b in range(2) for n in range(N) if mask[b, n])
    assert loss.item() == pytest.approx(masked_sum / 2 * 3e-6 / 0.5, rel=1e-5)
    assert mask.sum(1).tolist() == [N - int(N * 0.5)] * 2


# ---------------------------------- 5. constructor arguments name the key
@pytest.mark.parametrize('change, message', [
    (lambda d: d.distill_losses.loss_mimic.update(loss_weigth=1.0),
     r"distill_losses.loss_mimic: MimicLoss takes no argument\(s\) "
     r"\['loss_weigth'\]. Valid arguments: loss_weight, init_cfg"),
    (lambda d: d.student_recorders.block0.update(src='backbone.layers.0'),
     r"student_recorders.block0: ModuleOutputs takes no argument\(s\) "
     r"\['src'\]. Valid arguments: source"),
    (lambda d: d.teacher_recorders.block0.pop('source'),
     r"teacher_recorders.block0: ModuleOutputs is missing required "
     r"argument\(s\) \['source'\]"),
    (lambda d: d.connectors.proj.update(student_dim=16),
     r"connectors.proj: MimicConnector takes no argument\(s\) "
     r"\['student_dim'\]"),
])
def test_constructor_argument_errors_name_the_key(change, message):
    cfg = tiny_distill_cfg()
    change(cfg.distiller)
    with pytest.raises(TypeError, match=message):
        MODELS.build(cfg)


def test_constructor_value_errors_name_the_key():
    cfg = tiny_distill_cfg()
    cfg.distiller.connectors.proj.update(num_extra_tokens=-1)
    with pytest.raises(
            ValueError,
            match=r'connectors.proj: num_extra_tokens'
            r' must be a non-negative int, got -1'):
        MODELS.build(cfg)


# --------------------------- 6. method patches live only inside the context
class Owner(nn.Module):

    def forward(self, x):
        return self.scale(x) + self.shift(x) + self.offset(x)

    def scale(self, x):
        return 2 * x

    @staticmethod
    def shift(x):
        return x + 1

    @classmethod
    def offset(cls, x):
        return x - 1


@pytest.mark.parametrize('method', ['scale', 'shift', 'offset'])
def test_method_patch_exists_only_inside_the_context(method):
    original = Owner.__dict__[method]
    models = [Owner() for _ in range(4)]
    recorders = []
    for model in models:
        recorder = MethodOutputs(f'{__name__}.Owner.{method}')
        recorder.initialize(model)
        recorders.append(recorder)
    assert Owner.__dict__[method] is original  # nothing patched yet
    x = torch.ones(2)
    with recorders[1]:
        assert Owner.__dict__[method] is not original
        models[1](x)
        models[1](x)
    assert Owner.__dict__[method] is original  # restored, no stacking
    expected = dict(scale=2 * x, shift=x + 1, offset=x - 1)[method]
    assert len(recorders[1].data_buffer) == 2
    torch.testing.assert_close(recorders[1].get_record_data(1), expected)
    assert all(r.data_buffer == [] for r in recorders if r is not recorders[1])


def test_method_recorder_ignores_other_models_and_frees_its_own():
    model, other = Owner(), Owner()
    recorder = MethodOutputs(f'{__name__}.Owner.scale')
    recorder.initialize(model)
    with recorder:
        other(torch.ones(1))  # another model of the same class
    assert recorder.data_buffer == []
    with recorder:
        model(torch.ones(1))
    assert len(recorder.data_buffer) == 1
    # an inherited method: patched on the subclass, then removed again
    sub_recorder = MethodOutputs(f'{__name__}.SubOwner.scale')
    sub_recorder.initialize(SubOwner())
    with sub_recorder:
        assert 'scale' in SubOwner.__dict__
    assert 'scale' not in SubOwner.__dict__
    # a recorder of a deleted model is not kept alive by any patch
    alive = weakref.ref(recorder)
    del recorder, model
    gc.collect()
    assert alive() is None


class SubOwner(Owner):
    pass


# ------------------------------ 7. record_idx beyond what a forward records
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


def test_data_idx_beyond_the_record_names_entry_and_side():
    cfg = tiny_distill_cfg()
    cfg.distiller.loss_forward_mappings.loss_mimic.preds_S.data_idx = 0
    cfg.distiller.student_recorders.block0.type = 'ModuleInputs'
    cfg.distiller.loss_forward_mappings.loss_mimic.preds_S.data_idx = 5
    model = MODELS.build(cfg)
    with pytest.raises(
            IndexError,
            match=r'loss_forward_mappings.loss_mimic.'
            r'preds_S \(student_recorders.block0\): ModuleInputs'
            r".*data_idx=5 is out of range"):
        model.train_step(fake_batch(), optim_for(model))


# ---------------------------------------- 8. losses in fp32 whatever dtype
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_feature_losses_are_computed_in_fp32(dtype):
    torch.manual_seed(0)
    # tokens of magnitude ~300: their squares overflow fp16 (max 65504)
    preds_S = (torch.randn(2, 16, 8) * 300).to(dtype)
    preds_T = (torch.randn(2, 16, 8) * 300).to(dtype)
    mask = (torch.rand(2, 16).argsort(1).argsort(1) < 8).float()
    S, T = preds_S.double(), preds_T.double()
    mimic = MimicLoss(loss_weight=1.0)(preds_S, preds_T)
    gen = GenerationLoss(loss_weight=1.0)(preds_S, preds_T, mask.to(dtype))
    assert mimic.dtype == gen.dtype == torch.float32
    expected_mimic = ((S - T)**2).sum() / 2
    expected_gen = ((S - T)**2 * mask[..., None]).sum() / 2 / 0.5
    assert mimic.item() == pytest.approx(expected_mimic.item(), rel=1e-5)
    assert gen.item() == pytest.approx(expected_gen.item(), rel=1e-5)


def test_nkd_loss_is_computed_in_fp32():
    torch.manual_seed(0)
    logit_s, logit_t = torch.randn(4, 10) * 20, torch.randn(4, 10) * 20
    labels = torch.tensor([0, 3, 9, 5])
    reference = NKDLoss(gamma=1.0)(logit_s.double(), logit_t.double(), labels)
    half = NKDLoss(gamma=1.0)(logit_s.half(), logit_t.half(), labels)
    assert half.dtype == torch.float32
    assert half.item() == pytest.approx(
        NKDLoss(gamma=1.0)(logit_s.half().float(), logit_t.half().float(),
                           labels).item(),
        rel=1e-6)
    assert torch.isfinite(reference)


# ------------------------------------------- 9. the non-finite loss guard
def test_non_finite_loss_stops_the_step_before_the_optimizer():
    model = MODELS.build(tiny_distill_cfg())
    model.train()
    before = copy.deepcopy(model.state_dict())
    batch = fake_batch()
    inputs = batch['inputs'][1].float()
    inputs[0, 5, 7] = float('nan')  # one NaN pixel in one image
    batch['inputs'][1] = inputs
    MessageHub.get_current_instance().update_info('iter', 6)
    with pytest.raises(FloatingPointError) as error:
        model.train_step(batch, optim_for(model))
    message = str(error.value)
    assert message.startswith('Non-finite loss at iteration 7: ')
    assert 'student.loss=nan' in message and 'distill.loss_mimic=nan' in \
        message and 'loss=nan' in message
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in model.parameters())


def test_non_finite_guard_can_be_turned_off():
    model = MODELS.build(dict(tiny_distill_cfg(), check_finite=False))
    batch = fake_batch()
    batch['inputs'][0] = torch.full((3, 32, 32), float('nan'))
    logs = model.train_step(batch, optim_for(model))
    assert torch.isnan(logs['loss'])
    assert torch.isnan(model.architecture.head.layers.head.weight).all()


# ------------------------- early exit: owned by the recorder manager
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
