"""GenerationLoss: by hand, against a loop reference, its errors, and the
mask ratio it is given against the mask's."""
import pytest
import torch

from tests.utils import HAND_S as S
from tests.utils import HAND_T as T
from tests.utils import loop_sq_err
from vitkd_mm.models import GenerationConnector
from vitkd_mm.models.losses import GenerationLoss


def test_generation_loss_hand_computed():
    preds_S = torch.tensor(S, requires_grad=True)
    preds_T = torch.tensor(T, requires_grad=True)
    mask = torch.tensor([[1., 0.], [0., 1.]])
    loss = GenerationLoss(
        loss_weight=0.5, mask_ratio=0.5)(preds_S, preds_T, mask)
    # masked: sample 0 token 0 (1 + 4), sample 1 token 1 (1 + 0)
    # (5 + 1) / B=2 * 0.5 / 0.5 = 3
    torch.testing.assert_close(loss, torch.tensor(3.))
    loss.backward()
    # d/dS = 2 * (S - T) * mask / B * 0.5 / 0.5 = (S - T) * mask
    expected_grad = (torch.tensor(S) - torch.tensor(T)) * mask[..., None]
    torch.testing.assert_close(preds_S.grad, expected_grad)
    assert preds_T.grad is None


def test_generation_loss_matches_loop_reference():
    torch.manual_seed(0)
    preds_S, preds_T = torch.randn(3, 8, 4), torch.randn(3, 8, 4)
    # 4 of 8 tokens masked in each row, at random places
    mask = (torch.rand(3, 8).argsort(1).argsort(1) < 4).float()
    loss = GenerationLoss()(preds_S, preds_T, mask)  # beta 3e-6, lambda 0.5
    expected = loop_sq_err(preds_S, preds_T, mask) / 3 * 3e-6 / 0.5
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # a boolean mask gives the same loss
    bool_loss = GenerationLoss()(preds_S, preds_T, mask.bool())
    torch.testing.assert_close(bool_loss, loss)


def test_generation_loss_errors():
    loss = GenerationLoss()
    with pytest.raises(
            ValueError,
            match=r'\(2, 196, 8\) and teacher '
            r'\(2, 256, 8\).*token grids differ'):
        loss(torch.rand(2, 196, 8), torch.rand(2, 256, 8), torch.ones(2, 196))
    with pytest.raises(
            ValueError,
            match=r'mask must have shape \(B, N\) = '
            r'\(2, 4\) .* got \(2, 4, 1\)'):
        loss(torch.rand(2, 4, 8), torch.rand(2, 4, 8), torch.ones(2, 4, 1))
    for ratio in [0., 1.]:
        with pytest.raises(ValueError, match=r'open interval \(0, 1\)'):
            GenerationLoss(mask_ratio=ratio)


def test_generation_loss_refuses_a_mask_of_another_ratio():
    connector = GenerationConnector(
        8, 8, mask_ratio=0.75, patch_resolution=(14, 14))
    generated, mask = connector(torch.rand(2, 1 + 196, 8))
    with pytest.raises(
            ValueError,
            match=r'mask_ratio=0.5 masks 98 of N=196 '
            r'tokens, but the mask given masks \[147.0, 147.0\]'):
        GenerationLoss(mask_ratio=0.5)(generated, torch.rand(2, 196, 8), mask)


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
