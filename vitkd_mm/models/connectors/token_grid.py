"""Token grids of ViT sequences: checking them and aligning two of them."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from vitkd_mm.registry import MODELS
from ..utils.tokens import HWShape, to_hw
from .drop_extra_tokens import DropExtraTokens, drop_extra_tokens

ALIGN_MODES = ('bilinear', 'bicubic')


def resolve_grid(num_tokens: int, hw_shape: Optional[HWShape],
                 patch_resolution: Optional[Tuple[int, int]],
                 owner: str) -> Tuple[int, int]:
    """The (h, w) grid of ``num_tokens`` patch tokens, never sqrt(N).

    ``hw_shape`` is the grid of the actual input (e.g. the second output of
    the backbone's patch embedding); ``patch_resolution`` is the grid a
    config expects. With both given they must agree: a config grid is
    checked, never used to reshape tokens of another grid.

    Args:
        num_tokens (int): N, the number of patch tokens.
        hw_shape (int | tuple[int, int], optional): Grid of the input.
        patch_resolution (tuple[int, int], optional): Expected grid.
        owner (str): Who asks, for error messages.

    Returns:
        tuple[int, int]: (h, w) with h * w == num_tokens.
    """
    if hw_shape is not None:
        (h, w), source = to_hw(hw_shape, 'hw_shape'), 'hw_shape'
        if patch_resolution is not None and (h, w) != patch_resolution:
            raise ValueError(
                f'{owner}: patch_resolution={patch_resolution} but the input '
                f'gives a ({h}, {w}) token grid (hw_shape). Fix or drop '
                'patch_resolution in the config (the grid is read from the '
                'input when it is left out).')
    elif patch_resolution is not None:
        (h, w), source = patch_resolution, 'patch_resolution'
    else:
        raise ValueError(
            f'{owner} needs the token grid: pass hw_shape to forward or set '
            'patch_resolution in the config (the grid is never guessed from '
            'sqrt(N)).')
    if h * w != num_tokens:
        raise ValueError(
            f'{owner}: {source}=({h}, {w}) gives {h * w} tokens but the '
            f'sequence has N={num_tokens} patch tokens (after dropping the '
            'extra tokens). Check patch_resolution and num_extra_tokens.')
    return h, w


def check_alignable(source: Tuple[int, int], target: Tuple[int, int],
                    owner: str) -> None:
    """Raise unless two grids can be views of one image.

    Grids of one image at two patch sizes differ in scale and by rounding
    only: ``|h_s * w_t - w_s * h_t|`` may not exceed the larger side of
    either grid (one row or column of rounding). A transposed grid (4 x 8
    against 8 x 4) or one of another crop is an error.
    """
    (hs, ws), (ht, wt) = source, target
    if abs(hs * wt - ws * ht) > max(hs, ws, ht, wt):
        raise ValueError(
            f'{owner}: cannot align a {source} token grid to {target}: their '
            'aspect ratios differ beyond rounding, so they do not cover the '
            'same image. Check both backbones\' inputs (teacher_input.size) '
            'and patch sizes.')


@MODELS.register_module()
class TokenGridAlign(DropExtraTokens):
    """Teacher-side connector: patch tokens resized to the student's grid.

    Drops the extra tokens, lays the N = h * w patch tokens out on their
    (h, w) grid and resizes it to the student's grid with
    ``F.interpolate(mode, align_corners=False)`` (no antialias), per channel.
    Equal grids pass through untouched, so with matching grids this is
    :class:`DropExtraTokens`.

    Args:
        num_extra_tokens (int): Leading extra tokens to drop. Defaults to 1.
        mode (str, optional): ``'bilinear'`` or ``'bicubic'``; None allows
            no resizing (differing grids are then an error). Defaults to
            ``'bilinear'``: its weights are a convex combination, so a target
            token never leaves the range of the teacher's tokens (bicubic's
            negative lobes overshoot, most at the 4 x 4 -> 7 x 7 upsampling
            of the Fashion-MNIST kit).
        patch_resolution (int | tuple[int, int], optional): The teacher grid
            a config expects; checked against ``hw_shape``. Defaults to None.
        init_cfg (dict, optional): Initialization config.

    Shapes:
        - x: (B, E + h * w, D)
        - output: (B, h' * w', D), (h', w') = ``target_hw``

    Examples:
        >>> import torch
        >>> align = TokenGridAlign(num_extra_tokens=1)
        >>> align(torch.rand(2, 1 + 16 * 16, 384), hw_shape=(16, 16),
        ...       target_hw=(14, 14)).shape
        torch.Size([2, 196, 384])
    """

    def __init__(self,
                 num_extra_tokens: int = 1,
                 mode: Optional[str] = 'bilinear',
                 patch_resolution: Optional[HWShape] = None,
                 init_cfg=None) -> None:
        super().__init__(num_extra_tokens=num_extra_tokens, init_cfg=init_cfg)
        if mode is not None and mode not in ALIGN_MODES:
            raise ValueError(f'mode must be one of {ALIGN_MODES} or None, '
                             f'got {mode!r}.')
        self.mode = mode
        self.patch_resolution = None if patch_resolution is None else to_hw(
            patch_resolution, 'patch_resolution')

    def forward(self,
                x: torch.Tensor,
                hw_shape: Optional[HWShape] = None,
                target_hw: Optional[HWShape] = None) -> torch.Tensor:
        """Patch tokens of ``x`` on the grid ``target_hw``.

        Args:
            x (Tensor): Teacher tokens (B, E + N, D).
            hw_shape (int | tuple[int, int], optional): The teacher's grid.
            target_hw (int | tuple[int, int], optional): The student's grid;
                None keeps the teacher's.
        """
        x = drop_extra_tokens(x, self.num_extra_tokens)  # B, N, D
        if target_hw is None:
            return x
        B, N, D = x.shape
        owner = type(self).__name__
        h, w = resolve_grid(N, hw_shape, self.patch_resolution, owner)
        target = to_hw(target_hw, 'target_hw')
        if (h, w) == target:
            return x
        if self.mode is None:
            raise ValueError(
                f'{owner}: the teacher\'s token grid {(h, w)} differs from '
                f"the student's {target} and mode=None. Set mode='bilinear' "
                "or 'bicubic' (ViTKDDistiller: grid_align), or resize the "
                "teacher's input (SingleTeacherDistill: teacher_input.size).")
        check_alignable((h, w), target, owner)
        x = x.transpose(1, 2).reshape(B, D, h, w)
        x = F.interpolate(x, size=target, mode=self.mode, align_corners=False)
        return x.flatten(2).transpose(1, 2)  # B, h' * w', D
