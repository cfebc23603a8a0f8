"""tools/visualization/vis_tokens.py: the token maps and the CKA table of a
checkpoint on a few images."""
import glob
import json
import os.path as osp

import torch

from tests.utils import PYTHON, grid_pair_cfg, run


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
