"""ViTKD's deep generation loss (on the masked tokens only)."""
import torch
from mmengine.model import BaseModule

from vitkd_mm.registry import MODELS
from ..utils.tokens import check_mask_ratio, masked_token_count
from .alignment import token_cosine
from .mimic_loss import check_token_pair


@MODELS.register_module()
class GenerationLoss(BaseModule):
    """Squared error between generated and teacher tokens at masked tokens.

    ``loss = loss_weight / mask_ratio * sum(mask * (preds_S - preds_T) ** 2)
    / B``, summed over the masked tokens and all channels, computed in fp32
    whatever the input dtype. The teacher tokens are a target: no gradient
    flows into them.

    The loss is normalised by ``mask_ratio``, which must be the ratio the
    mask was drawn with: the first mask of each token count N is checked
    against it (``GenerationConnector``'s count ``N - int(N * (1 - r))`` in
    every row), so a loss and a connector that disagree are refused, not
    silently rescaled; a ratio a grid cannot realise (``1e-4`` of 16
    tokens masks one token) is refused too.

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
        >>> mask = torch.tensor([[1., 0., 1., 0.], [0., 0., 1., 1.]])
        >>> # 2 samples x 2 masked tokens x 4 channels x 1 / 2 / 0.5
        >>> loss(torch.ones(2, 4, 4), torch.zeros(2, 4, 4), mask)
        tensor(16.)
    """

    def __init__(self,
                 loss_weight: float = 3e-6,
                 mask_ratio: float = 0.5,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.loss_weight = loss_weight
        self.mask_ratio = check_mask_ratio(mask_ratio)
        self._checked_token_counts = set()

    def check_mask(self, mask: torch.Tensor) -> None:
        """Refuse a mask not drawn at ``mask_ratio`` (once per N: it reads
        the mask's values, a device sync)."""
        N = mask.shape[1]
        if N in self._checked_token_counts:
            return
        expected = masked_token_count(N, self.mask_ratio)
        counts = mask.detach().sum(dim=1)  # B
        if not bool((counts == expected).all()):
            raise ValueError(
                f'mask_ratio={self.mask_ratio} masks {expected} of N={N} '
                f'tokens, but the mask given masks {counts.tolist()} per '
                'sample: the loss would be normalised by the wrong ratio. '
                'Give GenerationLoss the mask_ratio of the connector that '
                'draws the mask.')
        self._checked_token_counts.add(N)

    def forward(self, preds_S: torch.Tensor, preds_T: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Compute the weighted generation loss (a scalar)."""
        check_token_pair(preds_S, preds_T)
        if mask.shape != preds_S.shape[:2]:
            raise ValueError(
                f'mask must have shape (B, N) = {tuple(preds_S.shape[:2])} '
                f'to match the tokens, got {tuple(mask.shape)}.')
        self.check_mask(mask)
        sq_err = (preds_S.float() - preds_T.detach().float()).pow(2)  # B,N,D
        masked = sq_err * mask.unsqueeze(-1).float()  # B, N, D
        return (masked.sum() / preds_S.shape[0] * self.loss_weight /
                self.mask_ratio)

    def alignment(self, preds_S: torch.Tensor, preds_T: torch.Tensor,
                  mask: torch.Tensor) -> dict:
        """Mean token cosine on the masked tokens (what the generator
        reconstructs) and on the visible ones (projected student tokens),
        logged as ``cos_<name>_masked`` and ``cos_<name>_visible``."""
        return {
            'cos_{}_masked': token_cosine(preds_S, preds_T, mask),
            'cos_{}_visible': token_cosine(preds_S, preds_T, 1 - mask),
        }
