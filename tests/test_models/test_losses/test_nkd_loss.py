"""NKDLoss: by hand, against a loop reference of the formula, mixed
labels, gradients, errors, and fp32 whatever the input dtype."""
import math

import pytest
import torch

from vitkd_mm.models.losses import NKDLoss


def nkd_loop_reference(logit_s, logit_t, labels, temperature, gamma,
                       loss_weight):
    """Per-sample NKD with Python floats, straight from the formula."""
    B, C = logit_s.shape
    target_terms, non_target_terms = [], []
    for b in range(B):
        zs, zt, y = logit_s[b].tolist(), logit_t[b].tolist(), labels[b]
        p_s_y = math.exp(zs[y]) / sum(math.exp(v) for v in zs)
        p_t_y = math.exp(zt[y]) / sum(math.exp(v) for v in zt)
        target_terms.append(-p_t_y * math.log(p_s_y))
        zs_nt = [zs[i] / temperature for i in range(C) if i != y]
        zt_nt = [zt[i] / temperature for i in range(C) if i != y]
        norm_s = sum(math.exp(v) for v in zs_nt)
        norm_t = sum(math.exp(v) for v in zt_nt)
        non_target_terms.append(
            sum(
                math.exp(t) / norm_t * math.log(math.exp(s) / norm_s)
                for s, t in zip(zs_nt, zt_nt)))
    target = sum(target_terms) / B
    non_target = -gamma * temperature**2 * sum(non_target_terms) / B
    return (target + non_target) * loss_weight


def test_nkd_uniform_logits_hand_computed():
    logits = torch.zeros(2, 4)
    loss = NKDLoss(gamma=1.5)(logits, logits, torch.tensor([0, 3]))
    # target: -(1/4) * log(1/4); non-target: -1.5 * 3 * (1/3) * log(1/3)
    expected = 0.25 * math.log(4) + 1.5 * math.log(3)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize('temperature,gamma,loss_weight', [(1.0, 1.5, 1.0),
                                                           (1.0, 1.0, 1.0),
                                                           (2.0, 0.7, 1.0),
                                                           (0.5, 1.5, 2.5)])
def test_nkd_index_labels_match_loop(temperature, gamma, loss_weight):
    torch.manual_seed(0)
    logit_s, logit_t = torch.randn(4, 5) * 3, torch.randn(4, 5) * 3
    labels = torch.tensor([0, 4, 2, 2])
    loss = NKDLoss(temperature, gamma, loss_weight)(logit_s, logit_t, labels)
    expected = nkd_loop_reference(logit_s, logit_t, labels.tolist(),
                                  temperature, gamma, loss_weight)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize('temperature,gamma', [(1.0, 1.5), (2.0, 1.0)])
def test_nkd_mixed_labels_use_argmax(temperature, gamma):
    torch.manual_seed(1)
    logit_s, logit_t = torch.randn(3, 6), torch.randn(3, 6)
    # mixup / cutmix scores: the target is the class of the largest score
    scores = torch.tensor([[0.1, 0.0, 0.6, 0.0, 0.3, 0.0],
                           [0.0, 0.0, 0.0, 0.2, 0.0, 0.8],
                           [0.7, 0.3, 0.0, 0.0, 0.0, 0.0]])
    nkd = NKDLoss(temperature, gamma)
    loss = nkd(logit_s, logit_t, scores)
    expected = nkd_loop_reference(logit_s, logit_t, [2, 5, 0], temperature,
                                  gamma, 1.0)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # equals the loss with the argmax as index labels and with one-hot labels
    idx = torch.tensor([2, 5, 0])
    torch.testing.assert_close(nkd(logit_s, logit_t, idx), loss)
    one_hot = torch.nn.functional.one_hot(idx, 6).float()
    torch.testing.assert_close(nkd(logit_s, logit_t, one_hot), loss)


def test_nkd_no_gradient_to_teacher():
    torch.manual_seed(2)
    logit_s = torch.randn(4, 5, requires_grad=True)
    logit_t = torch.randn(4, 5, requires_grad=True)
    loss = NKDLoss(temperature=2.0)(logit_s, logit_t,
                                    torch.tensor([1, 0, 3, 4]))
    loss.backward()
    assert logit_t.grad is None
    assert logit_s.grad is not None and logit_s.grad.abs().sum() > 0
    # with student == teacher the non-target gradient vanishes, leaving the
    # target term's, in which p_t[y] is a constant weight
    same = logit_t.detach().clone().requires_grad_(True)
    nkd = NKDLoss(temperature=2.0, gamma=1.0)
    labels = torch.tensor([1, 0, 3, 4])
    nkd(same, logit_t, labels).backward()
    probs_s = torch.softmax(same.detach(), dim=1)
    probs_t = torch.softmax(logit_t.detach(), dim=1)
    # d target / d z_s = p_t[y] * (p_s - onehot(y)) / B; non-target part is 0
    onehot = torch.nn.functional.one_hot(labels, 5).float()
    p_t_y = (probs_t * onehot).sum(1, keepdim=True)
    torch.testing.assert_close(same.grad, p_t_y * (probs_s - onehot) / 4)


def test_nkd_errors():
    nkd = NKDLoss()
    with pytest.raises(
            ValueError, match=r'student \(2, 5\) and teacher '
            r'\(2, 6\)'):
        nkd(torch.rand(2, 5), torch.rand(2, 6), torch.tensor([0, 1]))
    with pytest.raises(
            ValueError,
            match=r'gt_label must be \(2,\) class '
            r'indices or \(2, 5\) label scores'):
        nkd(torch.rand(2, 5), torch.rand(2, 5), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r'torch.float32 of shape \(2,\)'):
        nkd(torch.rand(2, 5), torch.rand(2, 5), torch.tensor([0., 1.]))
    with pytest.raises(ValueError, match='at least 2 classes'):
        nkd(torch.rand(2, 1), torch.rand(2, 1), torch.tensor([0, 0]))
    with pytest.raises(ValueError, match='temperature must be positive'):
        NKDLoss(temperature=0)


def test_nkd_loss_is_computed_in_fp32():
    torch.manual_seed(0)
    logit_s, logit_t = torch.randn(4, 10) * 20, torch.randn(4, 10) * 20
    labels = torch.tensor([0, 3, 9, 5])
    reference = NKDLoss(gamma=1.0)(logit_s.double(), logit_t.double(), labels)
    half = NKDLoss(gamma=1.0)(logit_s.half(), logit_t.half(), labels)
    assert half.dtype == torch.float32
    assert half.item() == pytest.approx(
        NKDLoss(gamma=1.0)(logit_s.half().float(), logit_t.half().float(),
                           labels).item(),
        rel=1e-6)
    assert torch.isfinite(reference)
