"""Linear centered kernel alignment (CKA) of two token sets."""
import torch


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA of two representations of the same M tokens.

    ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with column-centred
    ``Xc``, ``Yc``, in float64: 1 for identical representations, invariant
    to orthogonal transforms and isotropic scaling of either, so a student
    of another width compares with its teacher directly.

    Args:
        x (Tensor): (M, D1), e.g. the student's tokens of a layer.
        y (Tensor): (M, D2), the teacher's tokens of the same positions.

    Returns:
        float: In [0, 1].

    Examples:
        >>> x = torch.randn(50, 8)
        >>> round(linear_cka(x, 3 * x), 6)
        1.0
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[0] != y.shape[0]:
        raise ValueError('linear_cka needs (M, D1) and (M, D2) tensors of '
                         f'the same M, got {tuple(x.shape)} and '
                         f'{tuple(y.shape)}.')
    x = x.double() - x.double().mean(dim=0)  # M, D1
    y = y.double() - y.double().mean(dim=0)  # M, D2
    cross = (y.T @ x).pow(2).sum()
    norms = (x.T @ x).norm() * (y.T @ y).norm()
    return float(cross / norms.clamp(min=1e-300))
