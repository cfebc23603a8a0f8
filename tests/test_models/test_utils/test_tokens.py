"""Token counts: a mask ratio the token grid cannot realise is refused, by
the generation connector and loss alike."""
import pytest
import torch

from vitkd_mm.models import GenerationConnector, GenerationLoss


def test_a_ratio_the_grid_cannot_realise_is_refused():
    # 1e-4 of 16 tokens masks one token: the loss would be 625 x too large
    connector = GenerationConnector(
        8, 8, mask_ratio=1e-4, patch_resolution=(4, 4))
    with pytest.raises(
            ValueError,
            match=r'mask_ratio=0.0001 cannot be '
            r'realised on N=16 tokens: .* 1 of 16 .*625.00 x'):
        connector(torch.rand(2, 1 + 16, 8))
    one_of_16 = torch.zeros(2, 16)
    one_of_16[:, 3] = 1
    with pytest.raises(ValueError, match='cannot be realised on N=16'):
        GenerationLoss(mask_ratio=1e-4)(torch.rand(2, 16, 8),
                                        torch.rand(2, 16, 8), one_of_16)
