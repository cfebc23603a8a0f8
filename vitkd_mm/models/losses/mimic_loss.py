"""ViTKD's shallow mimicking loss."""
import torch
from mmengine.model import BaseModule

from vitkd_mm.registry import MODELS
from .alignment import token_cosine


def check_token_pair(preds_S: torch.Tensor, preds_T: torch.Tensor) -> None:
    """Raise a ValueError unless both are (B, N, D) tensors of equal shape."""
    if preds_S.dim() != 3 or preds_S.shape != preds_T.shape:
        raise ValueError(
            'Student and teacher tokens must both be (B, N, D) with the same '
            f'shape, got student {tuple(preds_S.shape)} and teacher '
            f'{tuple(preds_T.shape)}. A different token count N means the '
            'teacher and student token grids differ (patch size, input size '
            'or num_extra_tokens); a different D means the connector does '
            'not project to the teacher dims.')


@MODELS.register_module()
class MimicLoss(BaseModule):
    """Sum of squared errors between student and teacher tokens.

    ``loss = loss_weight * sum((preds_S - preds_T) ** 2) / B``, summed over
    tokens and channels, without normalising the features, computed in
    fp32 whatever the input dtype. The teacher tokens are a target: no
    gradient flows into them.

    Args:
        loss_weight (float): Weight ``alpha`` of the loss. Defaults to 3e-5.
        init_cfg (dict, optional): Initialization config. Defaults to None.

    Shapes:
        - preds_S: (B, N, D), the student tokens after the connector
        - preds_T: (B, N, D), the teacher tokens
        - output: scalar

    Examples:
        >>> import torch
        >>> loss = MimicLoss(loss_weight=1.0)
        >>> loss(torch.ones(2, 3, 4), torch.zeros(2, 3, 4))
        tensor(12.)
        >>> loss.alignment(torch.ones(2, 3, 4), torch.ones(2, 3, 4))
        {'cos_{}': tensor(1.)}
    """

    def __init__(self, loss_weight: float = 3e-5, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.loss_weight = loss_weight

    def forward(self, preds_S: torch.Tensor,
                preds_T: torch.Tensor) -> torch.Tensor:
        """Compute the weighted mimicking loss (a scalar)."""
        check_token_pair(preds_S, preds_T)
        sq_err = (preds_S.float() - preds_T.detach().float()).pow(2)  # B,N,D
        return sq_err.sum() / preds_S.shape[0] * self.loss_weight

    def alignment(self, preds_S: torch.Tensor, preds_T: torch.Tensor) -> dict:
        """Mean token cosine of the two (see :func:`token_cosine`), logged
        as ``cos_<loss name without loss>``."""
        return {'cos_{}': token_cosine(preds_S, preds_T)}
