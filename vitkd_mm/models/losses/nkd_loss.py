"""NKD: normalized knowledge distillation (logit-based)."""
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from vitkd_mm.registry import MODELS
from .alignment import top1_agreement


@MODELS.register_module()
class NKDLoss(BaseModule):
    """Normalized knowledge distillation loss.

    With student logits ``z_s``, teacher logits ``z_t`` and target class
    ``y`` (the argmax of one-hot or mixed label scores):

    - target term: ``-mean_b(softmax(z_t)[y] * log_softmax(z_s)[y])`` at
      temperature 1;
    - non-target term: with column ``y`` dropped from both logits,
      ``-gamma * T^2 * mean_b(sum_i softmax(z_t'/T)_i *
      log_softmax(z_s'/T)_i)``;
    - ``loss = loss_weight * (target + non-target)``.

    The teacher logits are a constant: no gradient flows into them. The loss
    is computed in fp32 whatever the input dtype.

    Args:
        temperature (float): Temperature ``T`` of the non-target term.
            Defaults to 1.0.
        gamma (float): Weight of the non-target term; the DeiT configs use
            1.0. Defaults to 1.5.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        init_cfg (dict, optional): Initialization config. Defaults to None.

    Shapes:
        - logit_s: (B, C)
        - logit_t: (B, C)
        - gt_label: (B,) class indices, or (B, C) one-hot / mixed scores
        - output: scalar

    Examples:
        >>> import torch
        >>> loss = NKDLoss(gamma=1.0)
        >>> logits = torch.zeros(2, 4)
        >>> # uniform logits: 0.25 * log(4) + log(3) = 1.4452
        >>> loss(logits, logits, torch.tensor([0, 3]))
        tensor(1.4452)
    """

    def __init__(self,
                 temperature: float = 1.0,
                 gamma: float = 1.5,
                 loss_weight: float = 1.0,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if temperature <= 0:
            raise ValueError(
                f'temperature must be positive, got {temperature}.')
        self.temperature = temperature
        self.gamma = gamma
        self.loss_weight = loss_weight

    @staticmethod
    def target_index(gt_label: torch.Tensor,
                     logit_s: torch.Tensor) -> torch.Tensor:
        """Return the target class of each sample as a (B, 1) index."""
        B, C = logit_s.shape
        if gt_label.shape == (B, C):
            return gt_label.argmax(dim=1, keepdim=True)  # B, 1
        if gt_label.shape == (B, ) and not gt_label.is_floating_point():
            return gt_label.long().unsqueeze(1)  # B, 1
        raise ValueError(
            f'gt_label must be ({B},) class indices or ({B}, {C}) label '
            f'scores to match the logits, got {gt_label.dtype} of shape '
            f'{tuple(gt_label.shape)}.')

    def forward(self, logit_s: torch.Tensor, logit_t: torch.Tensor,
                gt_label: torch.Tensor) -> torch.Tensor:
        """Compute the weighted NKD loss (a scalar)."""
        if logit_s.dim() != 2 or logit_s.shape != logit_t.shape:
            raise ValueError(
                'Student and teacher logits must both be (B, C) with the same '
                f'shape, got student {tuple(logit_s.shape)} and teacher '
                f'{tuple(logit_t.shape)}.')
        B, C = logit_s.shape
        if C < 2:
            raise ValueError(f'NKD needs at least 2 classes, got C={C}.')
        logit_s, logit_t = logit_s.float(), logit_t.detach().float()
        target = self.target_index(gt_label, logit_s)  # B, 1

        # target term, at temperature 1
        log_p_s = F.log_softmax(logit_s, dim=1).gather(1, target)  # B, 1
        p_t = F.softmax(logit_t, dim=1).gather(1, target)  # B, 1
        loss_target = -(p_t * log_p_s).mean()

        # non-target term: drop the target column, renormalise at T
        # (a gather: boolean-mask indexing would sync with the GPU)
        others = torch.arange(C - 1, device=logit_s.device).expand(B, -1)
        others = others + (others >= target).long()  # B, C - 1
        T = self.temperature
        logit_s_nt = logit_s.gather(1, others) / T  # B, C - 1
        logit_t_nt = logit_t.gather(1, others) / T  # B, C - 1
        cross = (F.softmax(logit_t_nt, dim=1) *
                 F.log_softmax(logit_s_nt, dim=1)).sum(dim=1)  # B
        loss_non_target = -self.gamma * T**2 * cross.mean()

        return (loss_target + loss_non_target) * self.loss_weight

    def alignment(self, logit_s: torch.Tensor, logit_t: torch.Tensor,
                  gt_label: torch.Tensor) -> dict:
        """Teacher-student top-1 agreement (see :func:`top1_agreement`),
        logged as ``agree_top1_<name>``; ``gt_label`` is not used."""
        return {'agree_top1_{}': top1_agreement(logit_s, logit_t)}
