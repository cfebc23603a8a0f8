"""ViTKD's deep generation loss (on the masked tokens only)."""
import torch
from mmengine.model import BaseModule

from vitkd_mm.registry import MODELS
from .mimic_loss import check_token_pair


@MODELS.register_module()
class GenerationLoss(BaseModule):
    """Squared error between generated and teacher tokens at masked tokens.

    ``loss = loss_weight / mask_ratio * sum(mask * (preds_S - preds_T) ** 2)
    / B``, summed over the masked tokens and all channels. The teacher tokens
    are a target: no gradient flows into them.

    Args:
        loss_weight (float): Weight ``beta`` of the loss. Defaults to 3e-6.
        mask_ratio (float): Mask ratio ``lambda`` of the
            ``GenerationConnector``, in (0, 1). Defaults to 0.5.
        init_cfg (dict, optional): Initialization config. Defaults to None.

    Shapes:
        - preds_S: (B, N, D), the generated tokens
        - preds_T: (B, N, D), the teacher tokens
        - mask: (B, N), 1 at the masked tokens, 0 elsewhere
        - output: scalar

    Examples:
        >>> import torch
        >>> loss = GenerationLoss(loss_weight=1.0, mask_ratio=0.5)
        >>> mask = torch.tensor([[1., 0., 1.], [0., 0., 1.]])
        >>> loss(torch.ones(2, 3, 4), torch.zeros(2, 3, 4), mask)
        tensor(12.)
    """

    def __init__(self,
                 loss_weight: float = 3e-6,
                 mask_ratio: float = 0.5,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0 < mask_ratio < 1:
            raise ValueError('mask_ratio must lie in the open interval '
                             f'(0, 1), got {mask_ratio}.')
        self.loss_weight = loss_weight
        self.mask_ratio = mask_ratio

    def forward(self, preds_S: torch.Tensor, preds_T: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Compute the weighted generation loss (a scalar)."""
        check_token_pair(preds_S, preds_T)
        if mask.shape != preds_S.shape[:2]:
            raise ValueError(
                f'mask must have shape (B, N) = {tuple(preds_S.shape[:2])} '
                f'to match the tokens, got {tuple(mask.shape)}.')
        sq_err = (preds_S - preds_T.detach()).pow(2)  # B, N, D
        masked = sq_err * mask.unsqueeze(-1).to(sq_err.dtype)  # B, N, D
        return (masked.sum() / preds_S.shape[0] * self.loss_weight /
                self.mask_ratio)
