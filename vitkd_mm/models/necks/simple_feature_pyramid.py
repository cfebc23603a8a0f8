"""ViTDet-style simple feature pyramid for plain ViT backbones."""
from typing import Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from vitkd_mm.registry import MODELS


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """Multi-scale feature maps from the single stride-16 map of a plain ViT.

    The ViTDet recipe (Li et al., 2022): the last feature map of the ViT is
    rescaled in parallel branches, with no top-down path,

    - stride 4: ``deconv 2x2 (C -> C/2) -> norm -> act -> deconv (-> C/4)``,
    - stride 8: ``deconv 2x2 (C -> C/2)``,
    - stride 16: identity,
    - stride 32: ``max-pool 2x2``,

    and each branch then goes through a 1x1 conv and a 3x3 conv to
    ``out_channels``, both followed by ``norm_cfg`` and no activation. With
    ``num_outs=5`` a fifth, stride-64 level for the RPN is taken from the
    stride-32 output by a stride-2 max-pool of kernel 1, as mmdet's ``FPN``
    does without extra convs.

    Shapes for a ``B x C x h x w`` input (``h, w`` = the ViT's patch grid,
    any size, not necessarily square or even): ``B x out x 4h x 4w``,
    ``B x out x 2h x 2w``, ``B x out x h x w``,
    ``B x out x floor(h/2) x floor(w/2)`` and, for ``num_outs=5``,
    ``B x out x ceil(floor(h/2)/2) x ceil(floor(w/2)/2)``. With mmdet's
    ``pad_size_divisor=32`` every level is exactly the image size divided by
    its stride.

    Args:
        in_channels (int): Channels of the ViT feature map (its embedding
            dims); must be divisible by 4.
        out_channels (int): Channels of every output level. Defaults to 256.
        num_outs (int): 4 (strides 4 to 32) or 5 (plus stride 64).
            Defaults to 5, what mmdet's RPN of Mask R-CNN expects.
        norm_cfg (dict): Norm after every conv and between the two deconvs
            of the stride-4 branch: a channel LayerNorm
            (``dict(type='mmpretrain.LN2d')``) as in ViTDet, or e.g.
            ``dict(type='GN', num_groups=32)``. Defaults to
            ``dict(type='mmpretrain.LN2d', eps=1e-6)``.
        act_cfg (dict): Activation between the two deconvs of the stride-4
            branch. Defaults to ``dict(type='GELU')``.
        init_cfg (dict | list[dict], optional): Initialization config. By
            default the convs get ConvModule's Kaiming init (fan-out, as
            ViTDet's MSRA fill) and the deconvs PyTorch's default.
            Defaults to None.

    Examples:
        >>> import torch
        >>> from vitkd_mm.models.necks import SimpleFeaturePyramid
        >>> neck = SimpleFeaturePyramid(in_channels=192, out_channels=256)
        >>> # DeiT-T map of a 200 x 328 image: 13 x 21 patches
        >>> feats = neck((torch.rand(1, 192, 13, 21), ))
        >>> [tuple(f.shape) for f in feats]
        [(1, 256, 52, 84), (1, 256, 26, 42), (1, 256, 13, 21), \
(1, 256, 6, 10), (1, 256, 3, 5)]
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 256,
                 num_outs: int = 5,
                 norm_cfg: dict = dict(type='mmpretrain.LN2d', eps=1e-6),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg=None):
        super().__init__(init_cfg)
        if in_channels % 4 != 0:
            raise ValueError(
                f'in_channels must be divisible by 4, got {in_channels}')
        if num_outs not in (4, 5):
            raise ValueError(f'num_outs must be 4 or 5, got {num_outs}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_outs = num_outs

        half, quarter = in_channels // 2, in_channels // 4
        self.rescales = nn.ModuleList([
            nn.Sequential(
                nn.ConvTranspose2d(in_channels, half, 2, stride=2),
                build_norm_layer(norm_cfg, half)[1],
                build_activation_layer(act_cfg),
                nn.ConvTranspose2d(half, quarter, 2, stride=2)),
            nn.ConvTranspose2d(in_channels, half, 2, stride=2),
            nn.Identity(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        ])
        rescaled_channels = (quarter, half, in_channels, in_channels)
        self.lateral_convs = nn.ModuleList([
            ConvModule(
                channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
            for channels in rescaled_channels
        ])
        self.fpn_convs = nn.ModuleList([
            ConvModule(
                out_channels,
                out_channels,
                3,
                padding=1,
                norm_cfg=norm_cfg,
                act_cfg=None) for _ in rescaled_channels
        ])

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Build the pyramid.

        Args:
            inputs (Sequence[Tensor]): The backbone's outputs: exactly one
                ``B x C x h x w`` map at stride 16 (``VisionTransformer``
                with ``out_type='featmap'`` and one out index).

        Returns:
            tuple[Tensor]: ``num_outs`` maps of ``out_channels`` channels,
            strides 4, 8, 16, 32 (and 64), finest first.
        """
        if len(inputs) != 1:
            raise ValueError('SimpleFeaturePyramid takes exactly one feature '
                             f'map, got {len(inputs)}: set the backbone\'s '
                             'out_indices to a single index.')
        x = inputs[0]  # B, C, h, w
        outs = [
            fpn_conv(lateral_conv(rescale(x)))  # B, out, h*16/s, w*16/s
            for rescale, lateral_conv, fpn_conv in zip(
                self.rescales, self.lateral_convs, self.fpn_convs)
        ]
        if self.num_outs == 5:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)
