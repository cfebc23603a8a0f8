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

from tests.utils import REPO_ROOT, tiny_distill_cfg
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


def tiny(tmp_path, **kwargs):
    """The tiny distillation, built with a teacher file and settings."""
    return MODELS.build(dict(tiny_distill_cfg(), **kwargs))


def tiny_teacher_state():
    return MODELS.build(tiny_distill_cfg().teacher).state_dict()


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


@pytest.mark.parametrize('wrapper', ['model', 'state_dict', None])
def test_published_wrappers_load(tmp_path, wrapper):
    """DeiT's releases wrap the weights as {'model': ...}."""
    state = tiny_teacher_state()
    path = str(tmp_path / 'teacher.pth')
    torch.save(state if wrapper is None else {wrapper: state}, path)
    model = tiny(tmp_path, teacher_ckpt=path)
    for key, value in state.items():
        assert torch.equal(model.teacher.state_dict()[key], value), key


@pytest.mark.parametrize('content, words', [
    (torch.zeros(3), 'holds a Tensor, not a state dict'),
    ([torch.zeros(3)], 'holds a list, not a state dict'),
])
def test_checkpoint_without_a_state_dict_names_key_and_file(
        tmp_path, content, words):
    path = str(tmp_path / 'teacher.pth')
    torch.save(content, path)
    with pytest.raises(TypeError) as error:
        tiny(tmp_path, teacher_ckpt=path)
    assert str(error.value).startswith(f'teacher_ckpt={path!r} {words}')


def test_directory_as_teacher_ckpt_names_key(tmp_path):
    with pytest.raises(
            FileNotFoundError, match=r"^teacher_ckpt='.*' is a directory"):
        tiny(tmp_path, teacher_ckpt=str(tmp_path))


def test_unreachable_url_says_how_to_use_a_local_copy(tmp_path, monkeypatch):
    """Port 9 on loopback refuses the connection, as an offline node does."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    url = 'http://127.0.0.1:9/deit3-small.pth'
    with pytest.raises(ConnectionError) as error:
        tiny(tmp_path, teacher_ckpt=url)
    message = str(error.value)
    assert message.startswith(f'teacher_ckpt: cannot download {url}')
    assert '--cfg-options model.teacher_ckpt=PATH' in message


def test_no_teacher_weights_is_a_warning_naming_teacher_ckpt(tmp_path, logs):
    tiny(tmp_path)
    assert any('model.teacher_ckpt is not set' in m for m in logs)
    logs.clear()
    cfg = tiny_distill_cfg()
    path = str(tmp_path / 'teacher.pth')
    torch.save(tiny_teacher_state(), path)
    cfg.teacher.init_cfg = dict(type='Pretrained', checkpoint=path)
    MODELS.build(cfg)
    assert not any('teacher_ckpt' in m for m in logs)


def test_teacher_off_its_resolution_is_a_warning(tmp_path, logs):
    """The cls_KD#5 trap: a teacher built (trained) for 32 px fed 40 px."""
    tiny(tmp_path, teacher_input=dict(size=40))
    warning, = [m for m in logs if 'The teacher is built for' in m]
    assert '(32, 32) inputs' in warning and 'run on (40, 40)' in warning
    assert 'teacher_input.size=(32, 32)' in warning
    logs.clear()
    tiny(tmp_path, teacher_input=dict(size=32))
    assert not any('The teacher is built for' in m for m in logs)
