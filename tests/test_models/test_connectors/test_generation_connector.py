"""GenerationConnector: MAE masking, the generators, the token grid."""
import pytest
import torch
from torch import nn

from vitkd_mm.models.connectors import GenerationConnector


class PassThrough(nn.Module):
    """Generator stand-in returning its input grid, recording its inputs."""

    def forward(self, x, visible):
        self.grid, self.visible = x, visible
        return x


def mae_reference(x, len_keep, mask_token, seed):
    """Loop re-implementation of the MAE draw: (filled, visible, mask).

    Keeps, per sample, the ``len_keep`` tokens with the smallest noise of a
    single ``torch.rand(B, N)`` draw, visible tokens in ascending noise order.
    """
    B, N, _ = x.shape
    torch.manual_seed(seed)
    noise = torch.rand(B, N)
    filled = mask_token.reshape(1, 1, -1).repeat(B, N, 1)
    mask = torch.ones(B, N)
    visible = []
    for b in range(B):
        order = sorted(range(N), key=lambda n: noise[b, n].item())
        keep = order[:len_keep]
        for n in keep:
            filled[b, n] = x[b, n]
            mask[b, n] = 0
        visible.append(x[b, keep])
    return filled, torch.stack(visible), mask


@pytest.mark.parametrize('hw,ratio', [((2, 7), 0.5), ((3, 5), 0.5),
                                      ((3, 5), 0.25), ((3, 5), 0.75),
                                      ((4, 4), 0.6), ((5, 7), 0.3),
                                      ((14, 14), 0.5)])
def test_masking_keeps_int_n_one_minus_r(hw, ratio):
    N = hw[0] * hw[1]
    connector = GenerationConnector(
        4, 4, mask_ratio=ratio, patch_resolution=hw)
    connector.generator = PassThrough()
    _, mask = connector(torch.rand(3, 1 + N, 4))
    len_keep = int(N * (1 - ratio))
    assert mask.shape == (3, N)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert (mask == 0).sum(1).tolist() == [len_keep] * 3
    assert connector.generator.visible.shape == (3, len_keep, 4)


@pytest.mark.parametrize('dims', [(4, 4), (4, 6)])
def test_masking_restores_order_and_fills_mask_token(dims):
    """With a pass-through generator: visible tokens sit at their original
    positions (projected), masked positions hold the mask token, and the
    result equals a loop re-implementation of the seeded MAE draw."""
    student_dims, teacher_dims = dims
    connector = GenerationConnector(
        student_dims, teacher_dims, mask_ratio=0.6, patch_resolution=(3, 5))
    connector.generator = PassThrough()
    with torch.no_grad():
        connector.mask_token.fill_(7.0)  # distinguishable from the tokens
    x = torch.rand(2, 1 + 15, student_dims)
    torch.manual_seed(123)
    out, mask = connector(x)

    projected = connector.proj(x[:, 1:]).detach()
    exp_out, exp_visible, exp_mask = mae_reference(
        projected, int(15 * 0.4), connector.mask_token.detach(), seed=123)
    assert torch.equal(mask, exp_mask)
    torch.testing.assert_close(out, exp_out)
    torch.testing.assert_close(connector.generator.visible, exp_visible)
    visible = mask == 0
    torch.testing.assert_close(out[visible], projected[visible])
    assert torch.all(out[~visible] == 7.0)


def test_masking_reproducible_and_draws_once():
    connector = GenerationConnector(4, 8, patch_resolution=(2, 3))
    x = torch.rand(4, 1 + 6, 4)
    torch.manual_seed(0)
    out1, mask1 = connector(x)
    after1 = torch.rand(5)
    torch.manual_seed(0)
    out2, mask2 = connector(x)
    assert torch.equal(mask1, mask2) and torch.equal(out1, out2)
    # exactly one torch.rand(B, N) draw is consumed
    torch.manual_seed(0)
    torch.rand(4, 6)
    assert torch.equal(torch.rand(5), after1)
    # and the masks vary with the seed and across samples
    torch.manual_seed(1)
    _, mask3 = connector(x)
    assert not torch.equal(mask1, mask3)
    assert not all(torch.equal(mask1[0], m) for m in mask1[1:])


def test_mask_token_zero_init_and_trained():
    connector = GenerationConnector(4, 6, patch_resolution=(2, 4))
    assert connector.mask_token.shape == (1, 1, 6)
    assert torch.all(connector.mask_token == 0)
    out, mask = connector(torch.rand(2, 9, 4))
    (out * mask.unsqueeze(-1)).sum().backward()
    assert connector.mask_token.grad.abs().sum() > 0


def test_conv_generator_default_and_grid_layout():
    """The conv generator runs on the (h, w) grid, token n at (n // w, n % w):
    compare with a grid filled position by position."""
    h, w, C = 3, 4, 2
    connector = GenerationConnector(C, C, patch_resolution=(h, w))
    conv = connector.generator.layers
    assert [type(m) for m in conv] == [nn.Conv2d, nn.ReLU, nn.Conv2d]
    assert conv[0].kernel_size == (3, 3) and conv[0].padding == (1, 1)
    x = torch.rand(2, 1 + h * w, C)
    torch.manual_seed(5)
    out, mask = connector(x)
    filled, _, _ = mae_reference(
        x[:, 1:], int(h * w * 0.5), connector.mask_token.detach(), seed=5)
    grid = torch.zeros(2, C, h, w)
    for n in range(h * w):
        grid[:, :, n // w, n % w] = filled[:, n]
    ref = conv(grid)
    for n in range(h * w):
        torch.testing.assert_close(out[:, n], ref[:, :, n // w, n % w])


@pytest.mark.parametrize('generator', ['conv', 'self_attn', 'cross_attn'])
def test_non_square_grid_all_generators(generator):
    connector = GenerationConnector(
        6, 8, generator=generator, num_heads=2, patch_resolution=(12, 20))
    keys = []
    if generator != 'conv':
        connector.generator.attn.register_forward_pre_hook(
            lambda mod, args: keys.append(args[1].shape))
    x = torch.rand(2, 1 + 240, 6)
    out, mask = connector(x)
    assert out.shape == (2, 240, 8) and mask.shape == (2, 240)
    assert (mask == 0).sum(1).tolist() == [120, 120]
    # cross-attention attends to the visible tokens only
    if generator == 'self_attn':
        assert keys == [(2, 240, 8)]
    elif generator == 'cross_attn':
        assert keys == [(2, 120, 8)]
    out.sum().backward()
    assert all(p.grad is not None for p in connector.parameters())
    # a wrong grid raises, hw_shape given or from patch_resolution
    with pytest.raises(
            ValueError,
            match=r'hw_shape=\(12, 21\) gives 252 '
            'tokens but the sequence has N=240'):
        GenerationConnector(6, 8)(x, hw_shape=(12, 21))
    with pytest.raises(
            ValueError,
            match=r'patch_resolution=\(12, 20\) gives '
            '240 tokens but the sequence has N=238'):
        connector(x[:, :-2])


def test_patch_resolution_is_checked_against_hw_shape():
    """A config grid is checked against the input's, never used to
    reshape tokens of another grid of the same size (8 x 4 on 4 x 8)."""
    connector = GenerationConnector(4, 4, patch_resolution=(8, 4))
    assert connector.patch_resolution == (8, 4)
    x = torch.rand(1, 1 + 32, 4)
    with pytest.raises(
            ValueError,
            match=r'patch_resolution=\(8, 4\) but the '
            r'input gives a \(4, 8\) token grid'):
        connector(x, hw_shape=(4, 8))
    assert connector(x, hw_shape=(8, 4))[0].shape == (1, 32, 4)
    connector = GenerationConnector(4, 4, patch_resolution=[2, 6])
    assert connector(torch.rand(1, 13, 4))[0].shape == (1, 12, 4)


def test_generation_connector_errors():
    with pytest.raises(ValueError, match=r'pass hw_shape .* patch_resolution'):
        GenerationConnector(4, 4)(torch.rand(1, 5, 4))
    for ratio in [0, 1, -0.5, 1.5]:
        with pytest.raises(ValueError, match=r'open interval \(0, 1\), got'):
            GenerationConnector(4, 4, mask_ratio=ratio)
    with pytest.raises(
            ValueError,
            match=r"Unknown generator 'mlp'; valid generators are "
            r"\['conv', 'self_attn', 'cross_attn'\]"):
        GenerationConnector(4, 4, generator='mlp')
    with pytest.raises(
            ValueError,
            match='num_heads=3 must be a positive '
            'divisor of the teacher dims 8'):
        GenerationConnector(4, 8, generator='self_attn', num_heads=3)
    with pytest.raises(ValueError, match='patch_resolution must be a pos'):
        GenerationConnector(4, 4, patch_resolution=(2, 2, 2))
    with pytest.raises(ValueError, match=r'hw_shape must be .* got 2\.5'):
        GenerationConnector(4, 4)(torch.rand(1, 5, 4), hw_shape=2.5)
    with pytest.raises(ValueError, match='student_dims=4'):
        GenerationConnector(4, 8, patch_resolution=2)(torch.rand(1, 5, 8))
    with pytest.raises(ValueError, match='leaves no visible token out of N=3'):
        GenerationConnector(
            4, 4, mask_ratio=0.8, patch_resolution=(1, 3))(
                torch.rand(1, 4, 4))
