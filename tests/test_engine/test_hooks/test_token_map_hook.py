"""TokenMapHook: token maps drawn at every validation with the PCA fitted at
the first, and turned off by the configs' switch."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from tests.utils import REPO_ROOT, grid_pair_cfg


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
