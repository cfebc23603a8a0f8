"""DropExtraTokens: the class (and distillation) tokens dropped."""
import pytest
import torch

from vitkd_mm.models.connectors import DropExtraTokens


@pytest.mark.parametrize('num_extra', [0, 1, 2])
def test_drop_extra_tokens(num_extra):
    x = torch.arange(2 * 5 * 3, dtype=torch.float).reshape(2, 5, 3)
    out = DropExtraTokens(num_extra)(x)
    assert out.shape == (2, 5 - num_extra, 3)
    for b in range(2):
        for n in range(5 - num_extra):
            assert torch.equal(out[b, n], x[b, n + num_extra])
    assert list(DropExtraTokens(num_extra).parameters()) == []


def test_drop_extra_tokens_errors():
    with pytest.raises(ValueError, match=r'2-D tensor of shape \(4, 8\)'):
        DropExtraTokens(1)(torch.rand(4, 8))
    with pytest.raises(ValueError, match='2 tokens but num_extra_tokens=2'):
        DropExtraTokens(2)(torch.rand(1, 2, 8))
    with pytest.raises(ValueError, match='non-negative int'):
        DropExtraTokens(-1)
