"""Connector of ViTKD's deep generation (masked token generation)."""
from typing import Optional, Tuple

import torch
from mmengine.model import BaseModule
from torch import nn

from vitkd_mm.registry import MODELS
from ..utils.tokens import HWShape, check_mask_ratio, masked_token_count, to_hw
from .drop_extra_tokens import check_num_extra_tokens, drop_extra_tokens
from .generators import build_generator
from .mimic_connector import check_token_dims, token_projection
from .token_grid import resolve_grid


@MODELS.register_module()
class GenerationConnector(BaseModule):
    """Generates the teacher's deep tokens from masked student tokens.

    Steps: drop the extra tokens; MAE-style random masking (one
    ``torch.rand(B, N)`` draw, keep the ``int(N * (1 - mask_ratio))`` tokens
    with the smallest noise); project the kept tokens with
    ``Linear(student_dims, teacher_dims)`` (identity when equal; per token,
    so the same as projecting all); fill the removed tokens with a learnable,
    zero-initialised mask token (no positional embedding) and restore the
    token order; reshape to (B, D_t, h, w) and run the generator on the whole
    grid; flatten back to tokens.

    The generator is chosen by name: ``'conv'`` (the paper's default,
    Conv3x3 -> ReLU -> Conv3x3), ``'self_attn'`` (a transformer block over
    all tokens) or ``'cross_attn'`` (all tokens query the visible student
    tokens only).

    Args:
        student_dims (int): Channels D_s of the student tokens.
        teacher_dims (int): Channels D_t of the teacher tokens.
        mask_ratio (float): Fraction of masked tokens, in (0, 1).
            Defaults to 0.5.
        generator (str): ``'conv'``, ``'self_attn'`` or ``'cross_attn'``.
            Defaults to ``'conv'``.
        patch_resolution (int | tuple[int, int], optional): Token grid
            (h, w) used when ``forward`` gets no ``hw_shape``, and checked
            against it when it does. Defaults to None.
        num_extra_tokens (int): Number of leading extra tokens of the student
            sequence. Defaults to 1.
        num_heads (int): Attention heads of the attention generators.
            Defaults to 8.
        init_cfg (dict, optional): Initialization config. Defaults to None.

    Shapes:
        - x: (B, E + N, D_s), with N = h * w
        - generated: (B, N, D_t)
        - mask: (B, N), 1 at the masked tokens, 0 at the visible ones

    Examples:
        >>> import torch
        >>> connector = GenerationConnector(192, 384, patch_resolution=14)
        >>> generated, mask = connector(torch.rand(2, 1 + 196, 192))
        >>> generated.shape, mask.shape, mask.sum(1)
        (torch.Size([2, 196, 384]), torch.Size([2, 196]), tensor([98., 98.]))
        >>> # non-square grids, e.g. detection inputs
        >>> generated, mask = GenerationConnector(192, 384)(
        ...     torch.rand(2, 1 + 12 * 20, 192), hw_shape=(12, 20))
        >>> generated.shape
        torch.Size([2, 240, 384])
    """

    def __init__(self,
                 student_dims: int,
                 teacher_dims: int,
                 mask_ratio: float = 0.5,
                 generator: str = 'conv',
                 patch_resolution: Optional[HWShape] = None,
                 num_extra_tokens: int = 1,
                 num_heads: int = 8,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.mask_ratio = check_mask_ratio(mask_ratio)
        self.student_dims = student_dims
        self.teacher_dims = teacher_dims
        self.num_extra_tokens = check_num_extra_tokens(num_extra_tokens)
        self.patch_resolution = None if patch_resolution is None else to_hw(
            patch_resolution, 'patch_resolution')
        self.proj = token_projection(student_dims, teacher_dims)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, teacher_dims))
        self.generator = build_generator(generator, teacher_dims, num_heads)

    def random_masking(
            self, x: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """MAE-style per-sample random masking, filled with the mask token.

        Only the visible tokens are projected (the projection acts on each
        token alone, so this equals projecting all and dropping the masked).

        Args:
            x (Tensor): Student patch tokens of shape (B, N, D_s).

        Returns:
            tuple[Tensor, Tensor, Tensor]: The projected visible tokens with
            the mask token at the masked positions, in the original order
            (B, N, D_t); the projected visible tokens (B, K, D_t) with
            ``K = int(N * (1 - mask_ratio))``, in ascending noise order; and
            the mask (B, N), 1 where masked.
        """
        B, N, _ = x.shape
        len_keep = N - masked_token_count(N, self.mask_ratio)
        noise = torch.rand(B, N, device=x.device)  # B, N
        ids_shuffle = torch.argsort(noise, dim=1)  # ascending: keep small
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :len_keep]  # B, K
        visible = torch.gather(
            x, 1,
            ids_keep.unsqueeze(-1).expand(-1, -1, x.size(-1)))
        visible = self.proj(visible)  # B, K, D_t
        mask_tokens = self.mask_token.to(visible.dtype).expand(
            B, N - len_keep, -1)  # B, N - K, D_t
        filled = torch.cat([visible, mask_tokens], dim=1)  # shuffled order
        filled = torch.gather(
            filled, 1,
            ids_restore.unsqueeze(-1).expand(-1, -1, self.teacher_dims))
        mask = x.new_ones(B, N)
        mask[:, :len_keep] = 0
        mask = torch.gather(mask, 1, ids_restore)  # B, N
        return filled, visible, mask

    def forward(
        self,
        x: torch.Tensor,
        hw_shape: Optional[HWShape] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Generate teacher-like tokens from the masked student tokens.

        Args:
            x (Tensor): Student tokens of shape (B, E + N, D_s).
            hw_shape (int | tuple[int, int], optional): Token grid (h, w) of
                the input; must equal ``patch_resolution`` if that is set.
                Defaults to None.

        Returns:
            tuple[Tensor, Tensor]: The generated tokens (B, N, D_t) and the
            mask (B, N), 1 at the masked tokens.
        """
        x = drop_extra_tokens(x, self.num_extra_tokens)  # B, N, D_s
        check_token_dims(x, self.student_dims)
        B, N, _ = x.shape
        h, w = resolve_grid(N, hw_shape, self.patch_resolution,
                            type(self).__name__)
        x, visible, mask = self.random_masking(x)  # B, N, D_t
        x = x.transpose(1, 2).reshape(B, self.teacher_dims, h, w)
        x = self.generator(x, visible)  # B, D_t, h, w
        return x.flatten(2).transpose(1, 2), mask  # B, N, D_t; B, N
