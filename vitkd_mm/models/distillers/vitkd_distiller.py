from typing import Optional, Sequence, Tuple, Union

from vitkd_mm.registry import MODELS
from .configurable_distiller import ConfigurableDistiller


def _tokens(name: str, from_student: bool, connector: str,
            connector_idx: Optional[int] = None) -> dict:
    entry = dict(recorder=name, from_student=from_student,
                 connector=connector)
    if connector_idx is not None:
        entry['connector_idx'] = connector_idx
    return entry


@MODELS.register_module()
class ViTKDDistiller(ConfigurableDistiller):
    """ViTKD (and optionally NKD) in a few config lines.

    Expands to the :class:`ConfigurableDistiller` listing a config would
    otherwise spell out (``configs/vitkd/deit-t_vitkd.py`` is that listing;
    a test checks both build the same model): mimic the outputs of the
    shallow blocks, generate the deep tokens after the final LayerNorm from
    masked student tokens, on patch tokens only, and add NKD on the logits
    if ``nkd`` is given. Loss names: ``loss_mimic_<i>``, ``loss_gen``,
    ``loss_nkd``.

    Args:
        student_dims (int): Token channels of the student.
        teacher_dims (int): Token channels of the teacher.
        patch_resolution (int | tuple[int, int]): Token grid (h, w) of the
            deep layer, e.g. 14 for 224 px inputs with 16 px patches.
        shallow_layers (Sequence[int]): Blocks to mimic. Defaults to (0, 1).
        deep_source (str): Module whose output is the deep feature.
            Defaults to ``'backbone.ln1'``.
        student_extra_tokens (int): Extra tokens of the student (cls,
            distillation). Defaults to 1.
        teacher_extra_tokens (int): Extra tokens of the teacher.
            Defaults to 1.
        mimic_weight (float): ``alpha``. Defaults to 3e-5.
        generation_weight (float): ``beta``. Defaults to 3e-6.
        mask_ratio (float): ``lambda``. Defaults to 0.5.
        generator (str): ``'conv'``, ``'self_attn'`` or ``'cross_attn'``.
            Defaults to ``'conv'``.
        num_heads (int): Heads of the attention generators. Defaults to 8.
        deep (str, optional): ``'generate'`` the deep tokens (ViTKD),
            ``'mimic'`` them (the paper's ablation), or None to skip the deep
            layer. Defaults to ``'generate'``.
        nkd (dict, optional): ``NKDLoss`` arguments; None disables NKD.
        logits_source (str): Module whose output is the logits.
            Defaults to ``'head.layers.head'`` (``VisionTransformerClsHead``).
        labels_source (str): Module whose second input is the labels.
            Defaults to ``'head.loss_module'``.
        init_cfg (dict, optional): Initialisation config.

    Examples:
        >>> # in a config: distiller=dict(type='ViTKDDistiller', ...)
        >>> distiller = ViTKDDistiller(
        ...     student_dims=192, teacher_dims=384, patch_resolution=14,
        ...     nkd=dict(gamma=1.0))
        >>> list(distiller.distill_losses)
        ['loss_mimic_0', 'loss_mimic_1', 'loss_gen', 'loss_nkd']
        >>> # the paper's ablation: mimic the deep layer too
        >>> list(ViTKDDistiller(192, 384, 14, deep='mimic').connectors)
        ['mimic0', 'mimic1', 'patch_tokens', 'mimic_deep']
    """

    def __init__(self,
                 student_dims: int,
                 teacher_dims: int,
                 patch_resolution: Union[int, Tuple[int, int]],
                 shallow_layers: Sequence[int] = (0, 1),
                 deep_source: str = 'backbone.ln1',
                 student_extra_tokens: int = 1,
                 teacher_extra_tokens: int = 1,
                 mimic_weight: float = 3e-5,
                 generation_weight: float = 3e-6,
                 mask_ratio: float = 0.5,
                 generator: str = 'conv',
                 num_heads: int = 8,
                 deep: Optional[str] = 'generate',
                 nkd: Optional[dict] = None,
                 logits_source: str = 'head.layers.head',
                 labels_source: str = 'head.loss_module',
                 init_cfg: Optional[dict] = None) -> None:
        if deep not in ('generate', 'mimic', None):
            raise ValueError(f"deep must be 'generate', 'mimic' or None, "
                             f'got {deep!r}.')
        recorders = {
            f'block{i}': dict(
                type='ModuleOutputs', source=f'backbone.layers.{i}')
            for i in shallow_layers
        }
        if deep is not None:
            recorders['deep'] = dict(type='ModuleOutputs', source=deep_source)
        student_recorders, teacher_recorders = dict(recorders), dict(
            recorders)
        mimic = dict(
            type='MimicConnector',
            student_dims=student_dims,
            teacher_dims=teacher_dims,
            num_extra_tokens=student_extra_tokens)
        connectors = {f'mimic{i}': dict(mimic) for i in shallow_layers}
        if recorders:  # the teacher's patch tokens, for the token losses
            connectors['patch_tokens'] = dict(
                type='DropExtraTokens', num_extra_tokens=teacher_extra_tokens)
        losses, mappings = {}, {}
        for i in shallow_layers:
            losses[f'loss_mimic_{i}'] = dict(
                type='MimicLoss', loss_weight=mimic_weight)
            mappings[f'loss_mimic_{i}'] = dict(
                preds_S=_tokens(f'block{i}', True, f'mimic{i}'),
                preds_T=_tokens(f'block{i}', False, 'patch_tokens'))
        if deep == 'generate':
            connectors['generation'] = dict(
                type='GenerationConnector',
                student_dims=student_dims,
                teacher_dims=teacher_dims,
                mask_ratio=mask_ratio,
                generator=generator,
                num_heads=num_heads,
                patch_resolution=patch_resolution,
                num_extra_tokens=student_extra_tokens)
            losses['loss_gen'] = dict(
                type='GenerationLoss',
                loss_weight=generation_weight,
                mask_ratio=mask_ratio)
            mappings['loss_gen'] = dict(
                preds_S=_tokens('deep', True, 'generation', 0),
                preds_T=_tokens('deep', False, 'patch_tokens'),
                mask=_tokens('deep', True, 'generation', 1))
        elif deep == 'mimic':
            connectors['mimic_deep'] = dict(mimic)
            losses['loss_mimic_deep'] = dict(
                type='MimicLoss', loss_weight=mimic_weight)
            mappings['loss_mimic_deep'] = dict(
                preds_S=_tokens('deep', True, 'mimic_deep'),
                preds_T=_tokens('deep', False, 'patch_tokens'))
        if nkd is not None:
            student_recorders['logits'] = dict(
                type='ModuleOutputs', source=logits_source)
            student_recorders['gt_labels'] = dict(
                type='ModuleInputs', source=labels_source)
            teacher_recorders['logits'] = dict(
                type='ModuleOutputs', source=logits_source)
            losses['loss_nkd'] = dict(type='NKDLoss', **nkd)
            mappings['loss_nkd'] = dict(
                logit_s=dict(recorder='logits', from_student=True),
                logit_t=dict(recorder='logits', from_student=False),
                gt_label=dict(
                    recorder='gt_labels', from_student=True, data_idx=1))
        super().__init__(
            student_recorders=student_recorders,
            teacher_recorders=teacher_recorders,
            connectors=connectors,
            distill_losses=losses,
            loss_forward_mappings=mappings,
            init_cfg=init_cfg)
