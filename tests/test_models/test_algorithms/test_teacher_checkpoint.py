"""teacher_ckpt: published checkpoints load as published, and every file
that does not fit is an error naming ``teacher_ckpt`` and the file.

Published files cannot be downloaded here, so each is replaced by a
stand-in with its exact key and shape layout (values do not matter: each
tensor is one zero expanded to its shape, so even DeiT III-L's file is
tiny). Where each layout comes from is said at its stand-in.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from tests.utils import REPO_ROOT
from tests.utils import build_tiny_distill as build
from tests.utils import tiny_distill as tiny
from tests.utils import tiny_teacher_state
from vitkd_mm.models.algorithms.teacher_checkpoint import \
    load_teacher_checkpoint
from vitkd_mm.registry import MODELS

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def config(name):
    return Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'vitkd', f'{name}.py'))


def layout_of(model):
    """``{key: shape}`` of a model's state dict."""
    return {k: v.shape for k, v in model.state_dict().items()}


def stand_in(layout, path, extra=None):
    """Save a checkpoint of ``layout`` updated by ``extra``, as mmengine
    writes one; returns the layout saved."""
    layout = dict(layout, **(extra or {}))
    state = {k: torch.zeros(()).expand(shape) for k, shape in layout.items()}
    torch.save(dict(meta=dict(), state_dict=state), path)
    return layout


def test_dinov2_config_loads_its_published_file(tmp_path, logs):
    """mmpretrain's vit-small-p14_dinov2-pre_3rdparty_20230426-5641ca5a.pth:
    the model of mmpretrain's configs/dinov2/vit-small-p14_dinov2-pre_
    headless.py (img_size=518: a 37 x 37 position embedding) plus DINOv2's
    ``mask_token`` (1, 384), which mmpretrain's loader lists as unexpected
    (mmpretrain#1618)."""
    cfg = config('deit-t_vitkd_dinov2-s')
    path = str(tmp_path / 'dinov2.pth')
    at_518 = dict(cfg.model.teacher)
    at_518['backbone'] = dict(at_518['backbone'], img_size=518)
    layout = stand_in(
        layout_of(MODELS.build(at_518)), path,
        {'backbone.mask_token': torch.Size([1, 384])})
    assert layout['backbone.pos_embed'] == (1, 1 + 37 * 37, 384)
    model_cfg = dict(cfg.model, teacher_ckpt=path)
    model_cfg['data_preprocessor'] = cfg.data_preprocessor
    model = MODELS.build(model_cfg)
    assert model.teacher.backbone.pos_embed.shape == (1, 1 + 16 * 16, 384)
    assert torch.count_nonzero(model.teacher.backbone.cls_token) == 0
    resized, = [m for m in logs if 'backbone.pos_embed was resized' in m]
    assert '[1, 1370, 384] to [1, 257, 384]' in resized
    assert 'teacher_input.size' in resized
    # without the config's ignore setting, the key is refused by name
    model_cfg['teacher_ckpt_ignore_keys'] = []
    with pytest.raises(
            ValueError, match=r'unexpected keys \(1\): '
            r'backbone.mask_token'):
        MODELS.build(model_cfg)


@pytest.mark.parametrize('rope_img_size', [336, 224])
def test_eva02_config_loads_its_published_file(tmp_path, logs, rope_img_size):
    """eva02-small-p14_in21k-pre_3rdparty_in1k-336px_20230505-9c5b0e85.pth:
    mmpretrain's ``ViTEVA02`` at 336 px as its eva02_to_mmpretrain.py
    converter writes it, rotary buffers included (``layers.i.attn.rope`` and
    ``rope``: the one shared module). A file whose rope buffers were made
    for another grid (224 px) keeps the model's, which mmpretrain
    recomputes from the grid at every forward anyway."""
    cfg = config('deit-t_vitkd-nkd_eva02-s')
    teacher = MODELS.build(cfg.model.teacher)
    path = str(tmp_path / 'eva02.pth')
    rope = {
        k: torch.Size([(rope_img_size // 14)**2, 64])
        for k in teacher.state_dict() if 'rope.freqs' in k
    }
    assert len(rope) == 2 * 13
    stand_in(layout_of(teacher), path, rope)
    report = load_teacher_checkpoint(teacher, path)
    assert not report.problems
    assert report.recomputed == ([] if rope_img_size == 336 else sorted(
        rope, key=list(rope).index))
    # the file's values at its grid, else the model's own
    freqs = teacher.backbone.rope.freqs_cos
    assert freqs.shape == (24 * 24, 64)
    assert bool(freqs.any()) == (rope_img_size != 336)


@pytest.mark.parametrize('name, arch', [('deit-t_vitkd', 's'),
                                        ('deit-s_vitkd', 'b'),
                                        ('deit-b_vitkd', 'l')])
def test_deit3_configs_load_their_published_files(tmp_path, name, arch):
    """deit3-{small,base,large}-p16_in21k-pre_3rdparty_in1k_20221009-*.pth:
    mmpretrain's ``DeiT3`` at 224 px with a ``VisionTransformerClsHead``,
    as its deit3_to_mmpretrain.py converter writes it; one tensor of the
    wrong shape is refused naming the key and both shapes."""
    cfg = config(name)
    assert cfg.model.teacher.backbone.arch == arch
    teacher = MODELS.build(cfg.model.teacher)
    path = str(tmp_path / 'deit3.pth')
    layout = stand_in(layout_of(teacher), path)
    report = load_teacher_checkpoint(teacher, path)
    assert not report.problems and report.loaded == list(layout)
    dims = layout['head.layers.head.weight'][1]
    bad = str(tmp_path / 'bad.pth')
    stand_in(layout, bad, {'head.layers.head.weight': torch.Size([10, dims])})
    with pytest.raises(ValueError) as error:
        load_teacher_checkpoint(teacher, bad)
    assert (f'shape mismatches (1): head.layers.head.weight (checkpoint '
            f'[10, {dims}], model [1000, {dims}])') in str(error.value)
    assert str(error.value).startswith(f"teacher_ckpt='{bad}'")


def test_wrong_shape_not_strict_loads_the_rest_and_warns(tmp_path, logs):
    state = tiny_teacher_state()
    state['head.layers.head.weight'] = torch.ones(5, 24)
    path = str(tmp_path / 'teacher.pth')
    torch.save(state, path)
    model = tiny(tmp_path, teacher_ckpt=path, teacher_ckpt_strict=False)
    loaded = model.teacher.state_dict()
    assert torch.equal(loaded['backbone.cls_token'],
                       state['backbone.cls_token'])
    assert loaded['head.layers.head.weight'].shape == (3, 24)
    warning, = [m for m in logs if m.startswith('Loaded teacher_ckpt')]
    assert ('not loaded: shape mismatches (1): head.layers.head.weight '
            '(checkpoint [5, 24], model [3, 24])') in warning


def test_ignore_pattern_matching_nothing_is_a_warning(tmp_path, logs):
    path = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=tiny_teacher_state()), path)
    tiny(
        tmp_path,
        teacher_ckpt=path,
        teacher_ckpt_ignore_keys=['backbone.mask_tokn'])
    assert any("'backbone.mask_tokn' matches no key" in m for m in logs)


def save_teacher(model, path, wrap=True, prefix=''):
    state = {prefix + k: v for k, v in model.teacher.state_dict().items()}
    torch.save(dict(state_dict=state) if wrap else state, path)


@pytest.mark.parametrize('wrap', [True, False])
def test_teacher_ckpt_loaded_and_kept_by_init_weights(tmp_path, wrap):
    source = build()
    path = str(tmp_path / 'teacher.pth')
    save_teacher(source, path, wrap=wrap)
    model = build(teacher_ckpt=path)
    model.init_weights()  # what the Runner does after building
    for key, value in source.teacher.state_dict().items():
        assert torch.equal(model.teacher.state_dict()[key], value), key


def partial_teacher_ckpt(tmp_path):
    """A teacher checkpoint without the head weight, with one extra key."""
    state = build().teacher.state_dict()
    state.pop('head.layers.head.weight')
    state['extra.weight'] = torch.zeros(1)
    path = str(tmp_path / 'partial.pth')
    torch.save(dict(state_dict=state), path)
    return path, state


def test_partial_teacher_ckpt_is_refused_by_default(tmp_path):
    path, _ = partial_teacher_ckpt(tmp_path)
    with pytest.raises(ValueError) as error:
        build(teacher_ckpt=path)
    message = str(error.value)
    assert 'missing keys (1): head.layers.head.weight' in message
    assert 'unexpected keys (1): extra.weight' in message
    assert 'teacher_ckpt_strict=False' in message


def test_partial_teacher_ckpt_opt_out_inits_the_rest(tmp_path, monkeypatch):
    from vitkd_mm.models.algorithms import teacher_checkpoint
    logged = []
    monkeypatch.setattr(teacher_checkpoint, 'print_log',
                        lambda msg, *args: logged.append((msg, args)))
    path, state = partial_teacher_ckpt(tmp_path)
    model = build(teacher_ckpt=path, teacher_ckpt_strict=False)
    model.init_weights()
    (message, (_, level)), = logged
    assert level == 30 and 'missing keys (1): head.layers.head.weight' in \
        message and 'unexpected keys (1): extra.weight' in message
    loaded = model.teacher.state_dict()
    for key, value in state.items():
        if key != 'extra.weight':
            assert torch.equal(loaded[key], value), key
    # the missing head got the head's own init (zeros), not a random one
    assert torch.equal(loaded['head.layers.head.weight'],
                       torch.zeros_like(loaded['head.layers.head.weight']))


def test_teacher_ckpt_matching_nothing_is_an_error(tmp_path):
    source = build()
    path = str(tmp_path / 'wrong_prefix.pth')
    save_teacher(source, path, prefix='backbone.module.')
    with pytest.raises(ValueError, match='matches no key of the teacher'):
        build(teacher_ckpt=path)
