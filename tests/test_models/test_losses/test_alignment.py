"""Alignment metrics logged next to the distillation losses."""
import math

import pytest
import torch

from vitkd_mm.models.losses import GenerationLoss, MimicLoss, NKDLoss
from vitkd_mm.models.losses.alignment import (metric_names, token_cosine,
                                              top1_agreement)

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
