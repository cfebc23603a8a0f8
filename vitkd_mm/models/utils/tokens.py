"""Token helpers shared by connectors, losses and algorithms: (h, w) grids
and MAE-style mask ratios and sizes."""
from typing import Sequence, Tuple, Union

HWShape = Union[int, Sequence[int]]


def to_hw(shape: HWShape, name: str) -> Tuple[int, int]:
    """Turn an int or an (h, w) sequence into an (h, w) tuple of ints."""
    if isinstance(shape, int):
        hw = (shape, shape)
    else:
        hw = tuple(shape) if isinstance(shape, Sequence) else ()
    if len(hw) != 2 or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0
            for s in hw):
        raise ValueError(f'{name} must be a positive int or an (h, w) pair of '
                         f'positive ints, got {shape!r}.')
    return hw


#: How far (relative) the masked fraction may exceed ``mask_ratio``: masking
#: hides whole tokens, and the generation loss is normalised by the ratio.
#: 0.5 of a 7 x 7 grid masks 25 / 49 = 0.51 (+2 %); 1e-4 of 16 tokens would
#: mask 1 / 16 (625 x).
MAX_MASK_RATIO_EXCESS = 0.1


def check_mask_ratio(mask_ratio: float) -> float:
    """Return ``mask_ratio`` if it lies in (0, 1), else raise a ValueError.

    Examples:
        >>> check_mask_ratio(0.5)
        0.5
    """
    if not 0 < mask_ratio < 1:
        raise ValueError('mask_ratio must lie in the open interval '
                         f'(0, 1), got {mask_ratio}.')
    return mask_ratio


def masked_token_count(num_tokens: int, mask_ratio: float) -> int:
    """How many of ``num_tokens`` MAE-style masking hides at ``mask_ratio``.

    ``N - int(N * (1 - mask_ratio))``: the reference implementation's
    rounding, so seeded draws match it.

    Raises:
        ValueError: If no token stays visible, or the masked fraction exceeds
            ``mask_ratio`` by more than :data:`MAX_MASK_RATIO_EXCESS`.

    Examples:
        >>> masked_token_count(196, 0.5), masked_token_count(49, 0.5)
        (98, 25)
    """
    num_masked = num_tokens - int(num_tokens * (1 - mask_ratio))
    if num_masked >= num_tokens:
        raise ValueError(f'mask_ratio={mask_ratio} leaves no visible token '
                         f'out of N={num_tokens}.')
    excess = num_masked / num_tokens / mask_ratio
    if excess > 1 + MAX_MASK_RATIO_EXCESS:
        raise ValueError(
            f'mask_ratio={mask_ratio} cannot be realised on N={num_tokens} '
            f'tokens: whole tokens are masked, {num_masked} of {num_tokens} '
            f'({num_masked / num_tokens:.4f}), {excess:.2f} x the ratio the '
            'generation loss is normalised by. Use a ratio the grid can '
            f'realise, e.g. mask_ratio={num_masked / num_tokens:.4f}.')
    return num_masked
