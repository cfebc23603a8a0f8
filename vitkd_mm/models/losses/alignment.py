"""Alignment metrics: how close the student's tokens and logits are to the
teacher's, read from the tensors a loss receives.

They are logged next to the losses (``distill.cos_mimic_0``, ...) but are no
losses: their names carry no ``loss``, so mmengine never sums them into the
trained loss, and they are computed under ``no_grad``.
"""
import re
from typing import Dict, Optional

import torch
import torch.nn.functional as F


def token_cosine(preds_S: torch.Tensor,
                 preds_T: torch.Tensor,
                 weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean cosine similarity of student and teacher tokens, in fp32.

    The cosine of each token pair over the channels, averaged over the
    tokens (weighted by ``weight``, e.g. a mask) and the batch.

    Args:
        preds_S (Tensor): Student tokens (B, N, D).
        preds_T (Tensor): Teacher tokens (B, N, D).
        weight (Tensor, optional): Token weights (B, N); None weighs all
            tokens equally.

    Returns:
        Tensor: A scalar in [-1, 1].

    Examples:
        >>> s = torch.tensor([[[1., 0.], [1., 1.]]])
        >>> t = torch.tensor([[[1., 0.], [0., 1.]]])
        >>> token_cosine(s, t)  # (1 + 0.7071) / 2
        tensor(0.8536)
        >>> token_cosine(s, t, weight=torch.tensor([[0., 1.]]))
        tensor(0.7071)
    """
    cos = F.cosine_similarity(preds_S.float(), preds_T.float(), dim=-1)  # B, N
    if weight is None:
        return cos.mean()
    weight = weight.float()
    return (cos * weight).sum() / weight.sum().clamp(min=1e-12)


def top1_agreement(logit_s: torch.Tensor,
                   logit_t: torch.Tensor) -> torch.Tensor:
    """Fraction of samples whose top-1 class is the same for both.

    Args:
        logit_s (Tensor): Student logits (B, C).
        logit_t (Tensor): Teacher logits (B, C).

    Examples:
        >>> top1_agreement(torch.tensor([[2., 1.], [0., 1.]]),
        ...                torch.tensor([[3., 0.], [2., 1.]]))
        tensor(0.5000)
    """
    return (logit_s.argmax(dim=1) == logit_t.argmax(dim=1)).float().mean()


def metric_names(loss_name: str,
                 metrics: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Log names of a loss's metrics: ``{}`` in each metric name becomes the
    loss name without ``loss``.

    Raises:
        ValueError: If a resulting name contains ``loss`` (mmengine would
            sum it into the trained loss).

    Examples:
        >>> list(metric_names('loss_gen', {'cos_{}_masked': None}))
        ['cos_gen_masked']
        >>> list(metric_names('loss_mimic_0', {'cos_{}': None}))
        ['cos_mimic_0']
    """
    stem = re.sub(r'_?loss_?', '_', loss_name, count=1).strip('_')
    named = {}
    for pattern, value in metrics.items():
        name = re.sub('_+', '_', pattern.format(stem)).strip('_')
        if 'loss' in name:
            raise ValueError(
                f'distill_losses.{loss_name}: its metric {name!r} contains '
                '"loss", so mmengine would train it; rename the loss.')
        named[name] = value
    return named
