"""linear_cka: 1 for the same tokens up to a rotation, and by hand."""
import pytest
import torch

from vitkd_mm.visualization import linear_cka


def test_linear_cka_of_itself_and_of_a_rotation_is_one():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 6, generator=generator)
    rotation, _ = torch.linalg.qr(torch.randn(6, 6, generator=generator))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, x @ rotation) == pytest.approx(1.0, abs=1e-12)
    # unrelated tokens are far from 1
    assert linear_cka(x, torch.randn(64, 6, generator=generator)) < 0.5


def test_linear_cka_by_hand():
    # centred x = [-1, 1], y = [[-1, 0], [1, 0]]: Y^T X = [2, 0],
    # ||.||^2 = 4; ||X^T X|| = 2, ||Y^T Y|| = 2 -> 1; with y's second
    # column [1, -1]: Y^T Y = [[2, -2], [-2, 2]], norm 4; Y^T X = [2, -2]
    # -> 8 / (2 * 4) = 1 as well (y is rank one, parallel to x)
    x = torch.tensor([[0.], [2.]])
    assert linear_cka(x, torch.tensor([[0., 5.], [2., 5.]])) == 1.0
    y = torch.tensor([[1., 0.], [0., 1.], [0., 0.]])
    x = torch.tensor([[1.], [0.], [0.]])
    # centred: x = [2/3, -1/3, -1/3]; Y^T x = [2/3, -1/3]; ||.||^2 = 5/9;
    # ||x^T x|| = 2/3; Y^T Y centred = [[2/3, -1/3], [-1/3, 2/3]], norm
    # sqrt(10)/3 -> (5/9) / (2/3 * sqrt(10)/3) = 5 / (2 sqrt(10))
    assert linear_cka(x, y) == pytest.approx(5 / (2 * 10**0.5))
