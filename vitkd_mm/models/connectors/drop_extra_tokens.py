"""Dropping the extra (cls / distillation) tokens of a ViT token sequence."""
import torch
from mmengine.model import BaseModule

from vitkd_mm.registry import MODELS


def drop_extra_tokens(x: torch.Tensor, num_extra_tokens: int) -> torch.Tensor:
    """Return the patch tokens of ``x``, i.e. ``x[:, num_extra_tokens:]``.

    Args:
        x (Tensor): Tokens of shape (B, E + N, D), extra tokens first.
        num_extra_tokens (int): E, the number of leading extra tokens.

    Returns:
        Tensor: Patch tokens of shape (B, N, D).
    """
    if x.dim() != 3:
        raise ValueError('Expected ViT tokens of shape (B, E + N, D), got a '
                         f'{x.dim()}-D tensor of shape {tuple(x.shape)}.')
    if x.shape[1] <= num_extra_tokens:
        raise ValueError(
            f'Got {x.shape[1]} tokens but num_extra_tokens='
            f'{num_extra_tokens}: no patch token would be left. Check that '
            'num_extra_tokens matches the backbone and that the recorded '
            'module outputs a (B, E + N, D) token sequence.')
    return x[:, num_extra_tokens:]  # B, N, D


def check_num_extra_tokens(num_extra_tokens: int) -> int:
    """Validate ``num_extra_tokens`` (a non-negative int) and return it."""
    if isinstance(num_extra_tokens, bool) or not isinstance(
            num_extra_tokens, int) or num_extra_tokens < 0:
        raise ValueError('num_extra_tokens must be a non-negative int, got '
                         f'{num_extra_tokens!r}.')
    return num_extra_tokens


@MODELS.register_module()
class DropExtraTokens(BaseModule):
    """Parameter-free connector keeping only the patch tokens.

    Used on the teacher's records so that its tokens line up with the
    student's connector outputs.

    Args:
        num_extra_tokens (int): Number of leading extra tokens to drop (the cls
            token; also the distillation token of distilled DeiTs).
            Defaults to 1.
        init_cfg (dict, optional): Initialization config. Defaults to None.

    Shapes:
        - x: (B, E + N, D)
        - output: (B, N, D)

    Examples:
        >>> import torch
        >>> drop = DropExtraTokens(num_extra_tokens=1)
        >>> drop(torch.rand(2, 1 + 196, 384)).shape
        torch.Size([2, 196, 384])
    """

    def __init__(self, num_extra_tokens: int = 1, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_extra_tokens = check_num_extra_tokens(num_extra_tokens)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Drop the extra tokens of ``x`` (B, E + N, D) -> (B, N, D)."""
        return drop_extra_tokens(x, self.num_extra_tokens)
