"""SimpleFeaturePyramid, the ViTDet neck of the detection configs.

Needs the detection extra (mmdet and full mmcv with compiled ops); skipped
without it.
"""
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip(
    'mmdet', reason='needs mmdet 3.3.0 and full mmcv (tools/install.sh --det)')
pytest.importorskip('mmcv.ops', reason='needs full mmcv (compiled ops)')

from mmpretrain.models import VisionTransformer  # noqa: E402

from vitkd_mm.models.necks import SimpleFeaturePyramid  # noqa: E402


def test_neck_shapes_on_non_square_input():
    """DeiT-T on a 200 x 328 image: a 13 x 21 grid (patch embed pads)."""
    backbone = VisionTransformer(
        arch='deit-tiny', img_size=224, out_type='featmap', out_indices=-1)
    neck = SimpleFeaturePyramid(in_channels=192, out_channels=32)
    with torch.no_grad():
        vit_out = backbone(torch.rand(1, 3, 200, 328))
        feats = neck(vit_out)
    assert [tuple(f.shape) for f in vit_out] == [(1, 192, 13, 21)]
    assert [tuple(f.shape) for f in feats] == [
        (1, 32, 52, 84),  # 4 * 13, 4 * 21
        (1, 32, 26, 42),
        (1, 32, 13, 21),
        (1, 32, 6, 10),  # max-pool 2x2 floors
        (1, 32, 3, 5),  # kernel-1 stride-2 pool: ceil(6 / 2), ceil(10 / 2)
    ]


@pytest.mark.parametrize('num_outs', [4, 5])
def test_neck_strides(num_outs):
    """On a padded (multiple of 64) image every level is image / stride."""
    height, width = 256, 384
    neck = SimpleFeaturePyramid(
        in_channels=16,
        out_channels=8,
        num_outs=num_outs,
        norm_cfg=dict(type='GN', num_groups=4))
    feats = neck((torch.rand(2, 16, height // 16, width // 16), ))
    strides = (4, 8, 16, 32, 64)[:num_outs]
    assert [tuple(f.shape) for f in feats] == [(2, 8, height // s, width // s)
                                               for s in strides]


def test_neck_branches_follow_vitdet():
    """Channels C/4, C/2, C, C into the 1x1 convs; pools are max-pools."""
    neck = SimpleFeaturePyramid(in_channels=32, out_channels=8)
    assert [m.conv.in_channels for m in neck.lateral_convs] == [8, 16, 32, 32]
    assert all(m.norm_name == 'ln' and m.conv.bias is None
               for m in [*neck.lateral_convs, *neck.fpn_convs])
    # stride 32 and stride 64 are max-pools of the level above
    x = torch.rand(1, 32, 8, 8)
    feats = neck((x, ))
    expected_p5 = neck.fpn_convs[3](neck.lateral_convs[3](F.max_pool2d(x, 2)))
    torch.testing.assert_close(feats[3], expected_p5)
    torch.testing.assert_close(feats[4], feats[3][:, :, ::2, ::2])


def test_neck_rejects_several_maps():
    neck = SimpleFeaturePyramid(in_channels=16, out_channels=8)
    with pytest.raises(ValueError, match='exactly one'):
        neck((torch.rand(1, 16, 4, 4), torch.rand(1, 16, 4, 4)))
