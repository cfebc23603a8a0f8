"""The Fashion-MNIST kit's configs (configs/vitkd/fashion-mnist/): each
builds and trains a step, distils what its arm's name says, builds the
model of the committed results and loads the shipped teacher."""
import json
import os.path as osp

import pytest
import torch

from tests.fashion_mnist_utils import (ALL_CONFIGS, CONFIG_DIR, build_model,
                                       fashion_batch)
from tests.utils import REPO_ROOT
from tools.fashion_mnist import arms

#: The label-free mode's configs (test_fashion_mnist_label_free.py).
LABEL_FREE_CONFIGS = {arms.ARMS[arm].config
                      for arm in arms.LABEL_FREE_ARMS} | {
                          stage.config
                          for stage in arms.PRETRAININGS.values()
                      }
CONFIGS = [c for c in ALL_CONFIGS if osp.basename(c) not in LABEL_FREE_CONFIGS]


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_builds_and_trains_one_step(config):
    cfg, model = build_model(config)
    assert cfg.custom_imports.imports == ['vitkd_mm']
    # Same data and recipe for every arm; only the teacher sees all 60k.
    train_set = cfg.train_dataloader.dataset
    assert train_set.type == 'FashionMNIST'
    assert train_set.data_root == 'data/fashion_mnist'
    assert cfg.val_dataloader.dataset.test_mode is True
    is_teacher = osp.basename(config) in {
        teacher.config
        for teacher in arms.TEACHERS.values()
    }
    assert train_set.indices == (None if is_teacher else 10000)
    assert cfg.train_cfg.max_epochs == (10 if is_teacher else 15)

    data = model.data_preprocessor(fashion_batch(), True)
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    if 'distiller' not in cfg.model:
        assert set(losses) == {'loss'}
        return
    # The distiller: a 48-dim student on a 7 x 7 grid, a 96-dim teacher on
    # a 7 x 7 grid, or 4 x 4 with 7 px patches (the grid-mismatch arms).
    assert model.architecture.backbone.embed_dims == 48
    assert model.architecture.backbone.patch_resolution == (7, 7)
    assert model.teacher.backbone.embed_dims == 96
    teacher_grid = (4, 4) if 'teacher-p7' in config else (7, 7)
    assert model.teacher.backbone.patch_resolution == teacher_grid
    expected = {f'distill.{k}' for k in model.distiller.distill_losses}
    assert {k for k in losses if 'loss' in k} == {'student.loss'} | expected
    # one alignment metric per mimic loss, two for the generation, one NKD
    metrics = {k for k in losses if 'loss' not in k}
    assert len(metrics) == sum(
        dict(loss_gen=2).get(k, 1) for k in model.distiller.distill_losses)
    connectors = model.distiller.connectors
    if 'generation' in connectors and 'teacher-p7' not in config:
        assert connectors.generation.patch_resolution == (7, 7)


def test_arms_distil_what_their_names_say():
    """Loss terms and connectors of each arm, from the built models."""

    def distiller(arm):
        return build_model(osp.join(CONFIG_DIR,
                                    arms.ARMS[arm].config))[1].distiller

    def connector_types(distiller):
        return {
            name: type(connector).__name__
            for name, connector in distiller.connectors.items()
        }

    vitkd = distiller('vitkd')
    assert list(
        vitkd.distill_losses) == ['loss_mimic_0', 'loss_mimic_1', 'loss_gen']
    assert vitkd.connectors.generation.generator.__class__.__name__ == (
        'ConvGenerator')
    assert list(distiller('vitkd-nkd').distill_losses) == [
        'loss_mimic_0', 'loss_mimic_1', 'loss_gen', 'loss_nkd'
    ]
    nkd = distiller('nkd')
    assert list(nkd.distill_losses) == ['loss_nkd']
    assert not nkd.connectors
    shallow = distiller('vitkd-shallow-only')
    assert list(shallow.distill_losses) == ['loss_mimic_0', 'loss_mimic_1']
    assert connector_types(shallow) == dict(
        mimic0='MimicConnector',
        mimic1='MimicConnector',
        patch_tokens='TokenGridAlign')
    assert list(distiller('vitkd-deep-only').distill_losses) == ['loss_gen']
    deep_mimic = distiller('vitkd-deep-mimic')
    assert list(deep_mimic.distill_losses) == [
        'loss_mimic_0', 'loss_mimic_1', 'loss_mimic_deep'
    ]
    assert connector_types(deep_mimic)['mimic_deep'] == 'MimicConnector'
    assert 'generation' not in deep_mimic.connectors
    for arm, cross_attn in (('vitkd-gen-self-attn', False),
                            ('vitkd-gen-cross-attn', True)):
        generator = distiller(arm).connectors.generation.generator
        assert generator.cross_attn is cross_attn, arm
        assert generator.attn.num_heads == 4, arm


#: Each distillation arm's model as the configs behind the committed results
#: built it (frozen once from those configs; see its ``_comment``).
REFERENCE_MODELS = osp.join(REPO_ROOT, 'tests', 'data',
                            'fashion_mnist_reference_models.json')
#: The distillation arms behind the committed full-mode results.
DISTILL_CONFIGS = list(
    dict.fromkeys(
        arm.config for arm in arms.ARMS.values()
        if arm.teacher == 'teacher' and arm.config not in LABEL_FREE_CONFIGS))


def grid_kwargs(distiller, spec):
    """The connector keyword arguments of ``spec`` that carry a token grid
    (``hw_shape``/``target_hw``: the patch embedding's second output on
    either side), as ``{name: from_student}``; any other keyword argument
    fails the test."""
    grids = {}
    for name, record in spec.connector_kwargs:
        side = (
            distiller.student_recorders
            if record.from_student else distiller.teacher_recorders)
        recorder = side.get_recorder(record.recorder)
        assert (name, recorder.source,
                record.data_idx) in (('hw_shape', 'backbone.patch_embed', 1),
                                     ('target_hw', 'backbone.patch_embed',
                                      1)), (name, record)
        grids[name] = record.from_student
    return grids


def distiller_layout(model, grids):
    """What a distiller computes, independent of its recorder names:
    per loss its type, arguments and, per loss argument, the recorded
    source (side, recorder type and module), call/data index and the
    connector applied. The token grids a connector reads from the input
    are collected in ``grids`` (``{(loss, argument): {name: side}}``), not
    in the layout: on the kit's equal 7 x 7 grids they only check the
    shapes and align nothing."""
    distiller = model.distiller
    layout = {}
    for name, loss in distiller.distill_losses.items():
        args = {
            key: value
            for key, value in vars(loss).items()
            if not key.startswith('_') and key != 'training'
        }
        inputs = {}
        for argument, spec in distiller.loss_specs[name].items():
            side = (
                distiller.student_recorders
                if spec.from_student else distiller.teacher_recorders)
            recorder = side.get_recorder(spec.recorder)
            inputs[argument] = (spec.from_student, type(recorder).__name__,
                                recorder.source, spec.record_idx,
                                spec.data_idx, spec.connector,
                                spec.connector_idx)
            grids[name, argument] = grid_kwargs(distiller, spec)
        layout[name] = (type(loss).__name__, args, inputs)
    return json.loads(json.dumps(layout))  # tuples as the JSON's lists


@pytest.mark.parametrize('config', DISTILL_CONFIGS)
def test_config_builds_the_model_of_the_committed_results(config):
    """Each distillation arm builds the model of the committed results:
    the same modules with the same initial weights (each tensor's shape,
    sum and sum of squares), the same losses with the same weights and
    arguments on the same recorded sources, and the same loss values on
    the same batch and mask draw."""
    with open(REFERENCE_MODELS) as f:
        reference = json.load(f)[config]
    _, model = build_model(osp.join(CONFIG_DIR, config))
    state = model.state_dict()
    assert list(state) == list(reference['weights'])
    for key, value in state.items():
        shape, total, squares = reference['weights'][key]
        value = value.double()
        assert list(value.shape) == shape, key
        assert value.sum().item() == pytest.approx(
            total, rel=1e-6, abs=1e-8), key
        assert value.pow(2).sum().item() == pytest.approx(
            squares, rel=1e-6, abs=1e-8), key
    grids = {}
    assert distiller_layout(model, grids) == reference['layout']
    # The preset reads each side's grid from its patch embedding: the
    # teacher tokens get both grids (TokenGridAlign: equal here, so
    # passed through), the generation the student's.
    for (loss, argument), kwargs in grids.items():
        if argument == 'preds_T':
            assert kwargs == dict(hw_shape=False, target_hw=True), loss
        elif loss == 'loss_gen':
            assert kwargs == dict(hw_shape=True), argument
        else:
            assert kwargs == {}, (loss, argument)

    torch.manual_seed(1)
    data = model.data_preprocessor(fashion_batch(), True)
    losses = model(**data, mode='loss')
    assert list(losses) == list(reference['losses'])
    for key, value in losses.items():
        assert value.item() == pytest.approx(
            reference['losses'][key], rel=1e-5, abs=1e-7), key


def test_fashion_mnist_configs_use_the_shipped_teacher():
    from mmengine.config import Config
    for arm in arms.ARMS.values():
        if arm.teacher is None:
            continue
        shipped = arms.TEACHERS[arm.teacher].shipped
        cfg = Config.fromfile(osp.join(CONFIG_DIR, arm.config))
        assert cfg.model.teacher_ckpt == shipped, arm.config
