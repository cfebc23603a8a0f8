"""What a distiller needs to know about a ViT, read from the model."""
from typing import Optional

from torch import nn


def vit_backbone(model: nn.Module) -> Optional[nn.Module]:
    """``model.backbone`` if it is an mmpretrain ``VisionTransformer``.

    Subclasses count: ``DeiT3``, ``DistilledVisionTransformer``,
    ``ViTEVA02``, and the DINOv2 and CLIP archs of ``VisionTransformer``.
    Returns None for any other model.
    """
    from mmpretrain.models.backbones import VisionTransformer
    backbone = getattr(model, 'backbone', None)
    return backbone if isinstance(backbone, VisionTransformer) else None


def vit_layout(model: nn.Module) -> Optional[dict]:
    """Token layout of a ViT model, or None if its backbone is no ViT.

    Args:
        model (nn.Module): A classifier or detector with a ``backbone``.

    Returns:
        dict | None: ``dims`` (token channels), ``extra_tokens`` (cls and
        distillation tokens ahead of the patch tokens) and ``deep_source``
        (the module whose output is the deep feature: the final norm
        ``backbone.ln1``, or the last block when the backbone has no final
        norm, as EVA-02).

    Examples:
        >>> from mmpretrain.models import ImageClassifier
        >>> model = ImageClassifier(backbone=dict(
        ...     type='VisionTransformer', arch='deit-tiny', img_size=224))
        >>> vit_layout(model)
        {'dims': 192, 'extra_tokens': 1, 'deep_source': 'backbone.ln1'}
    """
    backbone = vit_backbone(model)
    if backbone is None:
        return None
    if backbone.final_norm:
        deep_source = 'backbone.ln1'
    else:
        deep_source = f'backbone.layers.{len(backbone.layers) - 1}'
    return dict(
        dims=backbone.embed_dims,
        extra_tokens=backbone.num_extra_tokens,
        deep_source=deep_source)


def head_logits_source(model: nn.Module) -> Optional[str]:
    """The module whose output is the logits of ``model.head``, or None.

    ``head`` itself for ``DeiTClsHead``, whose prediction is the mean of
    its two linears (``head`` on the cls token, ``head_dist`` on the
    distillation token); ``head.layers.head`` for
    ``VisionTransformerClsHead``, ``head.fc`` for ``LinearClsHead`` and
    other heads ending in one linear ``fc``; None for a headless model (e.g.
    DINOv2) or another head.
    """
    from mmpretrain.models.heads import DeiTClsHead, VisionTransformerClsHead
    head = getattr(model, 'head', None)
    if isinstance(head, DeiTClsHead):
        return 'head'
    if isinstance(head, VisionTransformerClsHead):
        return 'head.layers.head'
    if isinstance(getattr(head, 'fc', None), nn.Linear):
        return 'head.fc'
    return None


def has_module(model: nn.Module, name: str) -> bool:
    """Whether ``model.get_submodule(name)`` exists."""
    try:
        model.get_submodule(name)
    except AttributeError:
        return False
    return True
