"""Generators of ViTKD's deep generation, selectable by name.

Every generator maps the filled token grid (visible student tokens plus mask
tokens) ``x`` of shape (B, C, H, W) to a grid of the same shape; the visible
student tokens ``visible`` (B, K, C) are passed too, for the cross-attention
generator.
"""
import torch
from torch import nn


class ConvGenerator(nn.Module):
    """The paper's default generator: Conv3x3 -> ReLU -> Conv3x3.

    Args:
        dims (int): Channels C of the token grid.
    """

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(dims, dims, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(dims, dims, kernel_size=3, padding=1))

    def forward(self, x: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """Generate from the grid ``x`` (B, C, H, W); ``visible`` is unused."""
        return self.layers(x)  # B, C, H, W


class AttnGenerator(nn.Module):
    """Pre-norm transformer block (attention + MLP) over the token grid.

    As a self-attention block every token attends to all N tokens of the
    filled grid. As a cross-attention block all N tokens are the queries and
    the visible student tokens only are the keys and values.

    Args:
        dims (int): Channels C of the tokens.
        num_heads (int): Attention heads; must divide ``dims``.
        cross_attn (bool): Attend to the visible tokens only. Defaults to
            False.
        mlp_ratio (float): Hidden width of the MLP relative to ``dims``.
            Defaults to 4.
    """

    def __init__(self,
                 dims: int,
                 num_heads: int,
                 cross_attn: bool = False,
                 mlp_ratio: float = 4.) -> None:
        super().__init__()
        if num_heads < 1 or dims % num_heads != 0:
            raise ValueError(f'num_heads={num_heads} must be a positive '
                             f'divisor of the teacher dims {dims}.')
        self.cross_attn = cross_attn
        self.norm_q = nn.LayerNorm(dims, eps=1e-6)
        self.norm_kv = nn.LayerNorm(dims, eps=1e-6) if cross_attn else None
        self.attn = nn.MultiheadAttention(dims, num_heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(dims, eps=1e-6)
        hidden = int(dims * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dims, hidden), nn.GELU(), nn.Linear(hidden, dims))

    def forward(self, x: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """Run the block on the grid ``x`` (B, C, H, W).

        ``visible`` (B, K, C) are the keys/values of the cross-attention.
        """
        B, C, H, W = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # B, N, C
        query = self.norm_q(tokens)
        kv = self.norm_kv(visible) if self.cross_attn else query  # B, K|N, C
        tokens = tokens + self.attn(query, kv, kv, need_weights=False)[0]
        tokens = tokens + self.mlp(self.norm_mlp(tokens))  # B, N, C
        return tokens.transpose(1, 2).reshape(B, C, H, W)


#: Names accepted by ``GenerationConnector(generator=...)``.
GENERATORS = ('conv', 'self_attn', 'cross_attn')


def build_generator(name: str, dims: int, num_heads: int) -> nn.Module:
    """Build the generator called ``name`` for ``dims`` channels.

    Args:
        name (str): One of :data:`GENERATORS`.
        dims (int): Channels of the teacher tokens.
        num_heads (int): Attention heads (attention generators only).

    Returns:
        nn.Module: The generator.
    """
    if name not in GENERATORS:
        raise ValueError(f'Unknown generator {name!r}; valid generators are '
                         f'{list(GENERATORS)}.')
    if name == 'conv':
        return ConvGenerator(dims)
    return AttnGenerator(dims, num_heads, cross_attn=name == 'cross_attn')
