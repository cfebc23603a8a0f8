"""MimicLoss: by hand, against a loop reference, its shape errors, and
fp32 whatever the input dtype (GenerationLoss too)."""
import pytest
import torch

from tests.utils import HAND_S as S
from tests.utils import HAND_T as T
from tests.utils import loop_sq_err
from vitkd_mm.models.losses import GenerationLoss, MimicLoss


def test_mimic_loss_hand_computed():
    preds_S = torch.tensor(S, requires_grad=True)
    preds_T = torch.tensor(T, requires_grad=True)
    loss = MimicLoss(loss_weight=0.5)(preds_S, preds_T)
    # (5 + 13 + 1 + 1) / B=2 * 0.5 = 5
    torch.testing.assert_close(loss, torch.tensor(5.))
    loss.backward()
    # d/dS = 2 * (S - T) / B * 0.5 = 0.5 * (S - T); the target gets no grad
    torch.testing.assert_close(preds_S.grad,
                               0.5 * (torch.tensor(S) - torch.tensor(T)))
    assert preds_T.grad is None


def test_mimic_loss_matches_loop_reference():
    torch.manual_seed(0)
    preds_S, preds_T = torch.randn(3, 6, 5), torch.randn(3, 6, 5)
    loss = MimicLoss()(preds_S, preds_T)  # default alpha = 3e-5
    expected = loop_sq_err(preds_S, preds_T) / 3 * 3e-5
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_mimic_loss_shape_errors():
    loss = MimicLoss()
    with pytest.raises(
            ValueError,
            match=r'student \(2, 196, 8\) and teacher '
            r'\(2, 256, 8\).*token grids differ'):
        loss(torch.rand(2, 196, 8), torch.rand(2, 256, 8))
    with pytest.raises(
            ValueError,
            match=r'student \(2, 4, 8\) and teacher '
            r'\(2, 4, 16\).*teacher dims'):
        loss(torch.rand(2, 4, 8), torch.rand(2, 4, 16))
    with pytest.raises(ValueError, match=r'\(B, N, D\)'):
        loss(torch.rand(2, 8), torch.rand(2, 8))


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
