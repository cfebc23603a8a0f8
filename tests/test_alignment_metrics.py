"""Alignment metrics logged next to the distillation losses."""
import copy
import math

import pytest
import torch

from tests.utils import fake_batch, tiny_distill_cfg
from vitkd_mm.models.losses import GenerationLoss, MimicLoss, NKDLoss
from vitkd_mm.models.losses.alignment import (metric_names, token_cosine,
                                              top1_agreement)
from vitkd_mm.registry import MODELS

# two samples, two tokens, two channels
STUDENT = torch.tensor([[[1., 0.], [1., 1.]], [[0., 2.], [3., 0.]]])
TEACHER = torch.tensor([[[1., 0.], [0., 1.]], [[0., -1.], [1., 1.]]])
# per token cosines: 1, 1/sqrt(2), -1, 1/sqrt(2)
COSINES = [1., 1 / math.sqrt(2), -1., 1 / math.sqrt(2)]


def test_token_cosine_by_hand():
    assert token_cosine(STUDENT,
                        TEACHER).item() == pytest.approx(sum(COSINES) / 4)
    mask = torch.tensor([[1., 0.], [1., 0.]])
    assert token_cosine(STUDENT, TEACHER, mask).item() == pytest.approx(
        (COSINES[0] + COSINES[2]) / 2)


def test_mimic_and_generation_metrics_by_hand():
    assert MimicLoss().alignment(STUDENT, TEACHER)['cos_{}'].item() == (
        pytest.approx(sum(COSINES) / 4))
    mask = torch.tensor([[0., 1.], [1., 0.]])  # masked: tokens 2 and 3
    metrics = GenerationLoss(mask_ratio=0.5).alignment(STUDENT, TEACHER, mask)
    assert metrics['cos_{}_masked'].item() == pytest.approx(
        (COSINES[1] + COSINES[2]) / 2)
    assert metrics['cos_{}_visible'].item() == pytest.approx(
        (COSINES[0] + COSINES[3]) / 2)


def test_top1_agreement_by_hand():
    logit_s = torch.tensor([[3., 1., 0.], [0., 1., 2.], [5., 0., 0.]])
    logit_t = torch.tensor([[2., 0., 0.], [0., 3., 1.], [4., 1., 0.]])
    assert top1_agreement(logit_s, logit_t).item() == pytest.approx(2 / 3)
    metrics = NKDLoss().alignment(logit_s, logit_t, torch.tensor([0, 1, 2]))
    assert metrics['agree_top1_{}'].item() == pytest.approx(2 / 3)


def test_metric_names():
    value = torch.tensor(1.)
    assert list(
        metric_names('loss_gen', {
            'cos_{}_masked': value,
            'cos_{}_visible': value
        })) == ['cos_gen_masked', 'cos_gen_visible']
    assert list(metric_names('mimic_loss', {'cos_{}': value})) == ['cos_mimic']
    assert list(metric_names('loss',
                             {'agree_top1_{}': value})) == ['agree_top1']
    with pytest.raises(ValueError, match='distill_losses.loss_a_loss'):
        metric_names('loss_a_loss', {'cos_{}': value})


def vitkd_nkd_cfg(alignment_metrics):
    cfg = tiny_distill_cfg()
    cfg.distiller = dict(
        type='ViTKDDistiller',
        nkd=dict(gamma=1.0),
        alignment_metrics=alignment_metrics)
    return cfg


def step(model):
    """Losses, parsed loss and student gradients of one seeded step."""
    model.zero_grad()
    torch.manual_seed(1)  # the generation mask
    data = model.data_preprocessor(fake_batch(), True)
    losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    loss.backward()
    grads = [p.grad.clone() for p in model.architecture.parameters()]
    return losses, loss, log_vars, grads


def test_metrics_leave_the_loss_and_gradients_unchanged(mmpretrain_scope):
    torch.manual_seed(0)
    with_metrics = MODELS.build(vitkd_nkd_cfg(True))
    without = MODELS.build(vitkd_nkd_cfg(False))
    without.load_state_dict(copy.deepcopy(with_metrics.state_dict()))
    losses, loss, log_vars, grads = step(with_metrics)
    losses_off, loss_off, _, grads_off = step(without)

    metrics = {
        'distill.cos_mimic_0', 'distill.cos_mimic_1', 'distill.cos_gen_masked',
        'distill.cos_gen_visible', 'distill.agree_top1_nkd'
    }
    assert set(losses) == set(losses_off) | metrics
    assert torch.equal(loss, loss_off)  # bit-identical
    assert all(torch.equal(a, b) for a, b in zip(grads, grads_off))
    for name in metrics:
        assert not losses[name].requires_grad
        assert -1 <= log_vars[name].item() <= 1
    assert all(losses[k].requires_grad for k in losses_off)
