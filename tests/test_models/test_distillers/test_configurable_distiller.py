"""ConfigurableDistiller: build-time validation of its configs, the
records it reads, and the alignment metrics it adds."""
import copy

import pytest
import torch

from tests.utils import fake_batch, optim_for, tiny_distill_cfg
from vitkd_mm.models import ConfigurableDistiller
from vitkd_mm.registry import MODELS


@pytest.fixture(autouse=True)
def _scope(mmpretrain_scope):
    yield


def distiller_cfg():
    cfg = tiny_distill_cfg().distiller.to_dict()
    cfg.pop('type')
    return cfg


def build_model(**distiller_changes):
    cfg = tiny_distill_cfg()
    cfg.distiller.update(distiller_changes)
    return MODELS.build(cfg)


def test_valid_config_builds_and_drops_unused_connector():
    cfg = distiller_cfg()
    cfg['connectors']['spare'] = dict(type='DropExtraTokens')
    distiller = ConfigurableDistiller(**cfg)
    assert set(distiller.connectors) == {'proj', 'tokens'}
    assert set(distiller.distill_losses) == {'loss_mimic'}


@pytest.mark.parametrize('change, error, message', [
    (lambda c: c['distill_losses'].update(loss_mimic=dict(type='NoSuchLoss')),
     KeyError,
     r"distill_losses.loss_mimic: unknown type 'NoSuchLoss'.*MimicLoss"),
    (lambda c: c['loss_forward_mappings'].update(loss_other=dict()), KeyError,
     r'loss_forward_mappings.loss_other names no loss.*loss_mimic'),
    (lambda c: c['loss_forward_mappings'].pop('loss_mimic'), KeyError,
     r'distill_losses.loss_mimic has no entry in loss_forward_mappings'),
    (lambda c: c['loss_forward_mappings']['loss_mimic'].update(
        preds_X=dict(from_student=True, recorder='block0')), KeyError,
     r"loss_forward_mappings.loss_mimic: MimicLoss.forward takes no "
     r"argument.*'preds_X'.*Valid arguments: preds_S, preds_T"),
    (lambda c: c['loss_forward_mappings']['loss_mimic'].pop('preds_T'),
     KeyError, r"required argument.*'preds_T'.*not mapped"),
    (lambda c: c['loss_forward_mappings']['loss_mimic']['preds_S'].update(
        from_student='yes'), TypeError,
     r'loss_mimic.preds_S.from_student must be True or False'),
    (lambda c: c['loss_forward_mappings']['loss_mimic']['preds_S'].update(
        recorder='deep'), KeyError,
     r"preds_S.recorder='deep' is not in student_recorders. "
     r'Valid choices: block0'),
    (lambda c: c['loss_forward_mappings']['loss_mimic']['preds_T'].update(
        recorder='deep'), KeyError,
     r"preds_T.recorder='deep' is not in teacher_recorders"),
    (lambda c: c['loss_forward_mappings']['loss_mimic']['preds_S'].update(
        connector='nope'), KeyError,
     r"preds_S.connector='nope' is not in connectors. "
     r'Valid choices: proj, tokens'),
    (lambda c: c['loss_forward_mappings']['loss_mimic']['preds_S'].update(
        record_idx=-1), TypeError, r'preds_S.record_idx must be'),
    (lambda c: c['loss_forward_mappings']['loss_mimic']['preds_S'].update(
        data_idx='0'), TypeError, r'preds_S.data_idx must be'),
    (lambda c: c['loss_forward_mappings']['loss_mimic']['preds_S'].update(
        recorde='block0'), KeyError, r"preds_S has unknown key.*'recorde'"),
    (lambda c: c['loss_forward_mappings']['loss_mimic']['preds_S'].pop(
        'from_student'), KeyError, r"preds_S is missing 'from_student'"),
    (lambda c: c['connectors'].update(proj=dict(type='NoSuchConnector')),
     KeyError, r"connectors.proj: unknown type 'NoSuchConnector'"),
])
def test_invalid_mapping_names_the_key(change, error, message):
    cfg = distiller_cfg()
    change(cfg)
    with pytest.raises(error, match=message):
        ConfigurableDistiller(**cfg)


def test_recorder_source_that_names_no_module():
    with pytest.raises(
            ValueError,
            match=r"student_recorders.block0: .*"
            r"source='backbone.layers.9' names no module"):
        build_model(
            student_recorders=dict(
                block0=dict(type='ModuleOutputs', source='backbone.layers.9')))
    with pytest.raises(ValueError, match=r'teacher_recorders.block0'):
        build_model(
            teacher_recorders=dict(
                block0=dict(type='ModuleOutputs', source='backbone.nope')))


def test_connector_runs_once_per_input_per_step():
    """Two entries reading one connector get outputs of one call."""
    cfg = distiller_cfg()
    cfg['distill_losses']['loss_twice'] = dict(
        cfg['distill_losses']['loss_mimic'])
    cfg['loss_forward_mappings']['loss_twice'] = copy.deepcopy(
        cfg['loss_forward_mappings']['loss_mimic'])
    distiller = ConfigurableDistiller(**cfg)
    model = MODELS.build(tiny_distill_cfg())
    distiller.prepare_from_student(model.architecture)
    distiller.prepare_from_teacher(model.teacher)
    calls = []
    distiller.connectors.proj.register_forward_hook(
        lambda *args: calls.append(1))
    x = torch.rand(2, 3, 32, 32)
    with distiller.student_recorders:
        model.architecture(x, mode='tensor')
    with distiller.teacher_recorders:
        model.teacher(x, mode='tensor')
    losses = distiller.compute_distill_losses()
    assert len(calls) == 1
    torch.testing.assert_close(losses['loss_mimic'], losses['loss_twice'])


def test_teacher_demands_count_record_idx():
    cfg = distiller_cfg()
    cfg['loss_forward_mappings']['loss_mimic']['preds_T']['record_idx'] = 2
    distiller = ConfigurableDistiller(**cfg)
    assert distiller.teacher_recorders.demands == {
        'block0': (3, 'loss_forward_mappings.loss_mimic.preds_T.record_idx')
    }
    assert distiller.student_recorders.demands == {
        'block0': (1, 'loss_forward_mappings.loss_mimic.preds_S.record_idx')
    }


def generation_cfg(hw_for_mask=True):
    """Deep generation whose grid comes from the recorded patch_embed."""
    cfg = distiller_cfg()
    grid = dict(recorder='grid', from_student=True, data_idx=1)
    cfg['student_recorders'].update(
        deep=dict(type='ModuleOutputs', source='backbone.ln1'),
        grid=dict(type='ModuleOutputs', source='backbone.patch_embed'))
    cfg['teacher_recorders'].update(
        deep=dict(type='ModuleOutputs', source='backbone.ln1'))
    cfg['connectors']['gen'] = dict(
        type='GenerationConnector', student_dims=16, teacher_dims=24)
    cfg['distill_losses']['loss_gen'] = dict(type='GenerationLoss')
    mask = dict(
        recorder='deep', from_student=True, connector='gen', connector_idx=1)
    if hw_for_mask:
        mask['connector_kwargs'] = dict(hw_shape=grid)
    cfg['loss_forward_mappings']['loss_gen'] = dict(
        preds_S=dict(
            recorder='deep',
            from_student=True,
            connector='gen',
            connector_idx=0,
            connector_kwargs=dict(hw_shape=grid)),
        preds_T=dict(recorder='deep', from_student=False, connector='tokens'),
        mask=mask)
    return cfg


def test_connector_kwargs_pass_the_recorded_grid():
    model = MODELS.build(tiny_distill_cfg())
    distiller = ConfigurableDistiller(**generation_cfg())
    assert distiller.connectors.gen.patch_resolution is None
    distiller.prepare_from_student(model.architecture)
    distiller.prepare_from_teacher(model.teacher)
    grids = []
    distiller.connectors.gen.register_forward_pre_hook(
        lambda module, args, kwargs: grids.append(kwargs['hw_shape']),
        with_kwargs=True)
    x = torch.rand(2, 3, 32, 48)  # a 4 x 6 grid of 8 px patches
    with distiller.student_recorders:
        model.architecture(x, mode='tensor')
    with distiller.teacher_recorders:
        model.teacher(x, mode='tensor')
    losses = distiller.compute_distill_losses()
    assert grids == [(4, 6)]  # one call, shared by preds_S and mask
    assert torch.isfinite(losses['loss_gen'])


def test_connector_kwargs_must_agree_between_shared_entries():
    with pytest.raises(
            KeyError,
            match=r'loss_gen.mask and .*loss_gen.'
            r"preds_S read the same call of connector 'gen'"):
        ConfigurableDistiller(**generation_cfg(hw_for_mask=False))


def test_connector_kwargs_unknown_argument():
    cfg = generation_cfg()
    for entry in ('preds_S', 'mask'):
        kwargs = cfg['loss_forward_mappings']['loss_gen'][entry][
            'connector_kwargs']
        kwargs['grid'] = kwargs.pop('hw_shape')
    with pytest.raises(
            KeyError,
            match=r'connector_kwargs: '
            r"GenerationConnector.forward takes no argument.*"
            r"'grid'.*Valid arguments: hw_shape"):
        ConfigurableDistiller(**cfg)


def test_record_teacher_stops_early_casts_and_checks():
    """One teacher pass: recorded inside the block, stopped once block0 of
    the 3-block teacher is recorded, the records cast, then checked."""
    model = build_model()
    distiller = model.distiller
    blocks_run = []
    for layer in model.teacher.backbone.layers:
        layer.register_forward_pre_hook(lambda *args: blocks_run.append(1))
    inputs = torch.randn(2, 3, 32, 32)
    with distiller.record_teacher(cast_to=torch.bfloat16), torch.no_grad():
        model.teacher(inputs, mode='tensor')
        raise AssertionError('the forward should have stopped')
    assert len(blocks_run) == 1
    record, = distiller.teacher_recorders.get_recorder('block0').data_buffer
    assert record.dtype == torch.bfloat16 and record.shape == (2, 17, 24)

    blocks_run.clear()
    with distiller.record_teacher(stop_early=False), torch.no_grad():
        model.teacher(inputs, mode='tensor')
    assert len(blocks_run) == 3
    with pytest.raises(IndexError, match='teacher_recorders.block0'):
        with distiller.record_teacher():
            pass  # no teacher forward: nothing recorded


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


def vitkd_nkd_cfg(alignment_metrics):
    cfg = tiny_distill_cfg()
    cfg.distiller = dict(
        type='ViTKDDistiller',
        nkd=dict(gamma=1.0),
        alignment_metrics=alignment_metrics)
    return cfg


def step(model):
    """Losses, parsed loss and student gradients of one seeded step."""
    model.zero_grad()
    torch.manual_seed(1)  # the generation mask
    data = model.data_preprocessor(fake_batch(), True)
    losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    loss.backward()
    grads = [p.grad.clone() for p in model.architecture.parameters()]
    return losses, loss, log_vars, grads


def test_metrics_leave_the_loss_and_gradients_unchanged(mmpretrain_scope):
    torch.manual_seed(0)
    with_metrics = MODELS.build(vitkd_nkd_cfg(True))
    without = MODELS.build(vitkd_nkd_cfg(False))
    without.load_state_dict(copy.deepcopy(with_metrics.state_dict()))
    losses, loss, log_vars, grads = step(with_metrics)
    losses_off, loss_off, _, grads_off = step(without)

    metrics = {
        'distill.cos_mimic_0', 'distill.cos_mimic_1', 'distill.cos_gen_masked',
        'distill.cos_gen_visible', 'distill.agree_top1_nkd'
    }
    assert set(losses) == set(losses_off) | metrics
    assert torch.equal(loss, loss_off)  # bit-identical
    assert all(torch.equal(a, b) for a, b in zip(grads, grads_off))
    for name in metrics:
        assert not losses[name].requires_grad
        assert -1 <= log_vars[name].item() <= 1
    assert all(losses[k].requires_grad for k in losses_off)
