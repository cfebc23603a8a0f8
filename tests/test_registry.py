"""The registries: components build from vitkd_mm's and, as
``vitkd_mm.<name>``, from mmengine's (other scopes' configs)."""
from mmengine.registry import MODELS as MMENGINE_MODELS

from vitkd_mm.models.connectors import (DropExtraTokens, GenerationConnector,
                                        MimicConnector)
from vitkd_mm.models.losses import GenerationLoss, MimicLoss, NKDLoss
from vitkd_mm.registry import MODELS


def test_build_from_registries():
    cfg = dict(type='MimicConnector', student_dims=4, teacher_dims=8)
    assert isinstance(MODELS.build(cfg), MimicConnector)
    # from another scope (mmpretrain / mmdet configs): ``vitkd_mm.X``
    for name, cls in [('DropExtraTokens', DropExtraTokens),
                      ('GenerationConnector', GenerationConnector)]:
        cfg = dict(type=f'vitkd_mm.{name}')
        if cls is GenerationConnector:
            cfg.update(student_dims=4, teacher_dims=8, patch_resolution=2)
        assert isinstance(MMENGINE_MODELS.build(cfg), cls)


def test_losses_build_from_registries():
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('vitkd_mm'):
        assert isinstance(MODELS.build(dict(type='MimicLoss')), MimicLoss)
    nkd = MMENGINE_MODELS.build(dict(type='vitkd_mm.NKDLoss', gamma=1.0))
    assert isinstance(nkd, NKDLoss) and nkd.gamma == 1.0
    gen = MMENGINE_MODELS.build(
        dict(type='vitkd_mm.GenerationLoss', loss_weight=1e-6))
    assert isinstance(gen, GenerationLoss) and gen.loss_weight == 1e-6
