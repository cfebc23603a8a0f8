"""Building a distiller that may read settings from the two models."""
from mmengine.registry import DefaultScope
from torch import nn

from vitkd_mm.registry import MODELS


def build_distiller(cfg: dict, student: nn.Module,
                    teacher: nn.Module) -> nn.Module:
    """Build ``cfg`` in the vitkd_mm scope, completed from the models.

    A distiller class with a ``complete_cfg(cfg, student, teacher)``
    classmethod (as :class:`ViTKDDistiller`, which reads dims, extra tokens
    and deep sources from ViT backbones) fills in what the config leaves
    out before it is built; any other is built as configured.
    """
    with DefaultScope.overwrite_default_scope('vitkd_mm'):
        distiller_type = cfg.get('type') if isinstance(cfg, dict) else None
        cls = (
            distiller_type if isinstance(distiller_type, type) else
            MODELS.get(distiller_type) if distiller_type else None)
        if hasattr(cls, 'complete_cfg'):
            cfg = cls.complete_cfg(cfg, student, teacher)
        return MODELS.build(cfg)
