"""Token maps (PCA to RGB), linear CKA, the TokenMapHook and
tools/visualization/vis_tokens.py."""
import glob
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from tests.utils import (PYTHON, REPO_ROOT, TINY_CONFIG, fake_batch,
                         make_image_folder, run)
from vitkd_mm.visualization import (TokenPCA, capture_token_pairs, fit_pcas,
                                    linear_cka, token_panels)


def test_linear_cka_of_itself_and_of_a_rotation_is_one():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 6, generator=generator)
    rotation, _ = torch.linalg.qr(torch.randn(6, 6, generator=generator))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, x @ rotation) == pytest.approx(1.0, abs=1e-12)
    # unrelated tokens are far from 1
    assert linear_cka(x, torch.randn(64, 6, generator=generator)) < 0.5


def test_linear_cka_by_hand():
    # centred x = [-1, 1], y = [[-1, 0], [1, 0]]: Y^T X = [2, 0],
    # ||.||^2 = 4; ||X^T X|| = 2, ||Y^T Y|| = 2 -> 1; with y's second
    # column [1, -1]: Y^T Y = [[2, -2], [-2, 2]], norm 4; Y^T X = [2, -2]
    # -> 8 / (2 * 4) = 1 as well (y is rank one, parallel to x)
    x = torch.tensor([[0.], [2.]])
    assert linear_cka(x, torch.tensor([[0., 5.], [2., 5.]])) == 1.0
    y = torch.tensor([[1., 0.], [0., 1.], [0., 0.]])
    x = torch.tensor([[1.], [0.], [0.]])
    # centred: x = [2/3, -1/3, -1/3]; Y^T x = [2/3, -1/3]; ||.||^2 = 5/9;
    # ||x^T x|| = 2/3; Y^T Y centred = [[2/3, -1/3], [-1/3, 2/3]], norm
    # sqrt(10)/3 -> (5/9) / (2/3 * sqrt(10)/3) = 5 / (2 sqrt(10))
    assert linear_cka(x, y) == pytest.approx(5 / (2 * 10**0.5))


def test_pca_is_fitted_once_and_gives_the_same_colours():
    generator = torch.Generator().manual_seed(0)
    teacher = torch.randn(2, 16, 8, generator=generator)
    pca = TokenPCA().fit(teacher)
    basis = pca.components.clone()
    first = pca.to_rgb(teacher[0], (4, 4))
    assert first.shape == (4, 4, 3)
    assert 0 <= first.min() and first.max() <= 1
    assert first.std() > 0.1  # not one colour
    # other tokens drawn in between do not move the basis
    pca.to_rgb(torch.randn(9, 8, generator=generator), (3, 3))
    np.testing.assert_array_equal(pca.to_rgb(teacher[0], (4, 4)), first)
    assert torch.equal(pca.components, basis)
    with pytest.raises(RuntimeError, match='fitted once'):
        pca.fit(teacher)


def grid_pair_cfg(tmp_path, max_epochs=2):
    """The tiny config as ViTKD+NKD with a 16 x 16 teacher grid (7 px
    patches) and a 14 x 14 student grid (8 px), on 112 px images."""
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.work_dir = str(tmp_path / 'work_dir')
    data_root = make_image_folder(str(tmp_path / 'data'), size=112)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root
    for side, patch in (('architecture', 8), ('teacher', 7)):
        cfg.model[side].backbone.update(img_size=112, patch_size=patch)
    cfg.model.distiller = dict(type='ViTKDDistiller', nkd=dict(gamma=1.0))
    cfg.train_cfg.max_epochs = max_epochs
    cfg.default_hooks.token_maps = dict(
        type='vitkd_mm.TokenMapHook', indices=(0, 5, 9, 12))
    cfg.custom_hooks = []
    return cfg


def test_hook_draws_teacher_and_student_grids_at_their_sizes(
        tmp_path, mmpretrain_scope):
    from vitkd_mm.registry import MODELS
    cfg = grid_pair_cfg(tmp_path)
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model).eval()
    data = model.data_preprocessor(fake_batch(2, size=112), False)
    state = torch.get_rng_state()
    pairs = capture_token_pairs(model, data['inputs'])
    assert torch.equal(torch.get_rng_state(), state)
    assert [p.name
            for p in pairs] == ['loss_mimic_0', 'loss_mimic_1', 'loss_gen']
    panels = token_panels(pairs, fit_pcas(pairs), 1)
    shapes = [rgb.shape for _, rgb, _ in panels]
    assert shapes == [(16, 16, 3), (14, 14, 3)] * 3
    assert [mask is None for _, _, mask in panels] == [True] * 5 + [False]
    assert panels[-1][2].sum() == 98  # half of 14 x 14 masked
    # the same images and seed: the same mask and tokens
    again = capture_token_pairs(model, data['inputs'])
    assert torch.equal(again[-1].mask, pairs[-1].mask)
    assert torch.equal(again[-1].student, pairs[-1].student)


def test_hook_writes_one_png_per_image_per_validation(tmp_path):
    from mmengine.runner import Runner
    cfg = grid_pair_cfg(tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    hook = [h for h in runner.hooks if type(h).__name__ == 'TokenMapHook']
    assert hook[0].indices == [0, 5, 9]  # 12 images: index 12 left out
    pngs = sorted(
        osp.basename(p) for p in glob.glob(
            osp.join(cfg.work_dir, '*', 'vis_data', 'vis_image', '*.png')))
    assert pngs == sorted(f'token_maps_{i}_{epoch}.png' for i in (0, 5, 9)
                          for epoch in (1, 2))
    assert set(hook[0].pcas) == {'loss_mimic_0', 'loss_mimic_1', 'loss_gen'}
    # fitted at the first validation, reused by the later ones
    pcas = dict(hook[0].pcas)
    bases = {name: pca.components.clone() for name, pca in pcas.items()}
    runner.val()
    assert hook[0].pcas == pcas
    assert all(
        torch.equal(pca.components, bases[name])
        for name, pca in hook[0].pcas.items())


def test_vis_tokens_writes_maps_and_prints_the_cka_table(
        tmp_path, mmpretrain_scope):
    from vitkd_mm.registry import MODELS
    cfg = grid_pair_cfg(tmp_path)
    model_cfg = cfg.model.copy()
    model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    checkpoint = str(tmp_path / 'epoch_1.pth')
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    config = str(tmp_path / 'config.py')
    cfg.dump(config)
    images = sorted(glob.glob(str(tmp_path / 'data' / 'class_1' / '*.png')))
    out = tmp_path / 'out'
    stdout = run([
        PYTHON, 'tools/visualization/vis_tokens.py', config, checkpoint,
        *images[:2], '--out',
        str(out)
    ])
    assert sorted(osp.basename(p) for p in glob.glob(str(out / '*.png'))) == [
        'cka.png', 'token_maps_img_0.png', 'token_maps_img_1.png'
    ]
    with open(out / 'cka.json') as f:
        cka = json.load(f)['cka']
    assert list(cka) == ['mimic_0', 'mimic_1', 'gen']
    for layer, value in cka.items():
        assert 0 < value <= 1
        assert f'{layer:<12}{value:>12.4f}' in stdout


@pytest.mark.parametrize('config', [
    'deit-t_vitkd.py', 'deit-s_vitkd.py', 'deit-b_vitkd-nkd.py',
    'fashion-mnist/vit-d48_vitkd-nkd_fashion-mnist.py',
    'fashion-mnist/vit-d48_vitkd_teacher-p7_fashion-mnist.py'
])
def test_configs_draw_token_maps_unless_turned_off(config):
    from vitkd_mm.registry import HOOKS
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'vitkd', config))
    assert HOOKS.build(cfg.default_hooks.token_maps).enable
    cfg.merge_from_dict({'default_hooks.token_maps.enable': False})
    hook = HOOKS.build(cfg.default_hooks.token_maps)
    hook.after_val_epoch(runner=None)  # returns before touching the runner
    assert hook.pcas is None
