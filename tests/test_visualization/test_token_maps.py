"""Token maps: the token pairs a distillation compares, drawn at their
grids, and the PCA to RGB fitted once."""
import numpy as np
import pytest
import torch

from tests.utils import fake_batch, grid_pair_cfg
from vitkd_mm.visualization import (TokenPCA, capture_token_pairs, fit_pcas,
                                    token_panels)


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
