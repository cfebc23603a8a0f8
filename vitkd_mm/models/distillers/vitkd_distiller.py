from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple, Union

from torch import nn

from vitkd_mm.registry import MODELS
from .configurable_distiller import ConfigurableDistiller
from .vit_layout import has_module, head_logits_source, vit_layout

#: Settings ``complete_cfg`` reads from each side's backbone:
#: ``{argument: (side, key of vit_layout)}``.
_INFERRED = {
    'student_dims': ('student', 'dims'),
    'teacher_dims': ('teacher', 'dims'),
    'student_extra_tokens': ('student', 'extra_tokens'),
    'teacher_extra_tokens': ('teacher', 'extra_tokens'),
    'student_deep_source': ('student', 'deep_source'),
    'teacher_deep_source': ('teacher', 'deep_source'),
}


def _token_entry(name: str,
                 from_student: bool,
                 connector: str,
                 connector_idx: Optional[int] = None,
                 connector_kwargs: Optional[dict] = None) -> dict:
    """A loss mapping's entry for the tokens recorder ``name`` recorded,
    through ``connector`` (output ``connector_idx`` if it has several)."""
    entry = dict(recorder=name, from_student=from_student, connector=connector)
    if connector_idx is not None:
        entry['connector_idx'] = connector_idx
    if connector_kwargs:
        entry['connector_kwargs'] = connector_kwargs
    return entry


@dataclass
class _Listing:
    """Part of a :class:`ConfigurableDistiller` listing: recorders per side,
    connectors, losses and their mappings, in the order they are added."""
    recorders: Dict[str, dict] = field(
        default_factory=lambda: dict(student={}, teacher={}))
    connectors: dict = field(default_factory=dict)
    losses: dict = field(default_factory=dict)
    mappings: dict = field(default_factory=dict)

    def record(self,
               name: str,
               source: str,
               sides=('student', 'teacher'),
               type: str = 'ModuleOutputs') -> None:
        """Add recorder ``name`` of ``source`` on ``sides``."""
        for side in sides:
            self.recorders[side][name] = dict(type=type, source=source)

    def extend(self, other: '_Listing') -> None:
        for side in self.recorders:
            self.recorders[side].update(other.recorders[side])
        self.connectors.update(other.connectors)
        self.losses.update(other.losses)
        self.mappings.update(other.mappings)


@dataclass
class _GridListing(_Listing):
    """The token-grid recorders and the teacher's aligned patch tokens,
    with the connector kwargs that pass the grids (None without
    ``grid_source``)."""
    student_grid: Optional[dict] = None
    aligned: Optional[dict] = None


def _grid_listing(grid_source: Optional[str], teacher_extra_tokens: int,
                  grid_align: Optional[str],
                  teacher_patch_resolution) -> _GridListing:
    """Both sides' grid recorders (``grid_source``'s second output) and
    ``patch_tokens``: the teacher's patch tokens on the student's grid."""
    listing = _GridListing()
    if grid_source is not None:
        listing.record('grid', grid_source)
        listing.student_grid = dict(
            recorder='grid', from_student=True, data_idx=1)
        listing.aligned = dict(
            hw_shape=dict(recorder='grid', from_student=False, data_idx=1),
            target_hw=listing.student_grid)
    listing.connectors['patch_tokens'] = dict(
        type='TokenGridAlign',
        num_extra_tokens=teacher_extra_tokens,
        mode=grid_align,
        patch_resolution=teacher_patch_resolution)
    return listing


def _shallow_listing(shallow_layers: Sequence, mimic: dict,
                     mimic_weight: float, aligned: Optional[dict]) -> _Listing:
    """Mimic each shallow block: ``block<i>`` -> ``mimic<i>`` ->
    ``loss_mimic_<i>`` against the teacher's aligned patch tokens."""
    listing = _Listing()
    for i in shallow_layers:
        listing.record(f'block{i}', f'backbone.layers.{i}')
    for i in shallow_layers:
        listing.connectors[f'mimic{i}'] = dict(mimic)
        listing.losses[f'loss_mimic_{i}'] = dict(
            type='MimicLoss', loss_weight=mimic_weight)
        listing.mappings[f'loss_mimic_{i}'] = dict(
            preds_S=_token_entry(f'block{i}', True, f'mimic{i}'),
            preds_T=_token_entry(
                f'block{i}', False, 'patch_tokens', connector_kwargs=aligned))
    return listing


def _deep_recorders(deep_sources: Dict[str, str]) -> _Listing:
    listing = _Listing()
    for side, source in deep_sources.items():
        listing.record('deep', source, sides=(side, ))
    return listing


def _generation_listing(deep_sources: Dict[str, str], grid: _GridListing,
                        connector: dict, weight: float) -> _Listing:
    """Generate the teacher's deep patch tokens from masked student ones:
    ``loss_gen`` reads the generated tokens and the mask of one draw."""
    listing = _deep_recorders(deep_sources)
    listing.connectors['generation'] = connector
    listing.losses['loss_gen'] = dict(
        type='GenerationLoss',
        loss_weight=weight,
        mask_ratio=connector['mask_ratio'])
    student_grid = None if grid.student_grid is None else dict(
        hw_shape=grid.student_grid)
    listing.mappings['loss_gen'] = dict(
        preds_S=_token_entry('deep', True, 'generation', 0, student_grid),
        preds_T=_token_entry(
            'deep', False, 'patch_tokens', connector_kwargs=grid.aligned),
        mask=_token_entry('deep', True, 'generation', 1, student_grid))
    return listing


def _deep_mimic_listing(deep_sources: Dict[str, str], grid: _GridListing,
                        mimic: dict, weight: float) -> _Listing:
    """The paper's ablation: mimic the deep tokens instead."""
    listing = _deep_recorders(deep_sources)
    listing.connectors['mimic_deep'] = dict(mimic)
    listing.losses['loss_mimic_deep'] = dict(
        type='MimicLoss', loss_weight=weight)
    listing.mappings['loss_mimic_deep'] = dict(
        preds_S=_token_entry('deep', True, 'mimic_deep'),
        preds_T=_token_entry(
            'deep', False, 'patch_tokens', connector_kwargs=grid.aligned))
    return listing


def _nkd_listing(nkd: dict, logits_source: str,
                 teacher_logits_source: Optional[str],
                 labels_source: str) -> _Listing:
    """NKD on both sides' logits, with the labels the student's loss module
    gets."""
    listing = _Listing()
    listing.record('logits', logits_source, sides=('student', ))
    listing.record(
        'gt_labels', labels_source, sides=('student', ), type='ModuleInputs')
    listing.record(
        'logits', teacher_logits_source or logits_source, sides=('teacher', ))
    listing.losses['loss_nkd'] = dict(type='NKDLoss', **nkd)
    listing.mappings['loss_nkd'] = dict(
        logit_s=dict(recorder='logits', from_student=True),
        logit_t=dict(recorder='logits', from_student=False),
        gt_label=dict(recorder='gt_labels', from_student=True, data_idx=1))
    return listing


@MODELS.register_module()
class ViTKDDistiller(ConfigurableDistiller):
    """ViTKD (and optionally NKD) in a few config lines.

    Expands to the :class:`ConfigurableDistiller` listing a config would
    otherwise spell out (``configs/vitkd/deit-t_vitkd.py`` is that listing;
    a test checks both build the same model): mimic the outputs of the
    shallow blocks, generate the deep tokens (after the final LayerNorm, or
    the last block's output where there is none) from masked student
    tokens, on patch tokens only, and add NKD on the logits if ``nkd`` is
    given. Loss names: ``loss_mimic_<i>``, ``loss_gen``, ``loss_nkd``. At
    least one term is needed: ``shallow_layers=()``, ``deep=None`` and no
    ``nkd`` is a build error (training the student alone is its own config;
    a teacher forward every step for no loss would only cost time).

    Built by :class:`SingleTeacherDistill`, it reads what the config leaves
    out (dims, extra tokens, deep sources) from mmpretrain ViT backbones
    (``VisionTransformer`` and its subclasses: DeiT, DeiT III, DINOv2,
    CLIP, EVA-02); see :meth:`complete_cfg`. Explicit arguments win.

    The token grid of each side is read every step from the actual input
    (the second output of ``grid_source``, the patch embedding), so other
    input sizes and non-square detection inputs work; ``patch_resolution``
    and ``teacher_patch_resolution`` only check it. When the teacher's grid
    differs from the student's (e.g. patch 14 vs 16), the teacher's patch
    tokens are resized to the student's grid (:class:`TokenGridAlign`, mode
    ``grid_align``) before the mimic and generation losses.

    Args:
        student_dims (int, optional): Token channels of the student.
        teacher_dims (int, optional): Token channels of the teacher.
        patch_resolution (int | tuple[int, int], optional): The student's
            token grid (h, w) of the deep layer, checked against the
            recorded one; needed if ``grid_source`` is None. Defaults to
            None.
        teacher_patch_resolution (int | tuple[int, int], optional): The
            teacher's grid, checked likewise. Defaults to None.
        shallow_layers (Sequence[int]): Blocks to mimic, each once.
            Defaults to (0, 1).
        student_deep_source (str, optional): Module whose output is the
            student's deep feature. Defaults to ``'backbone.ln1'``.
        teacher_deep_source (str, optional): The same for the teacher.
            Defaults to ``'backbone.ln1'``.
        student_extra_tokens (int, optional): Extra tokens of the student
            (cls, distillation). Defaults to 1.
        teacher_extra_tokens (int, optional): Extra tokens of the teacher.
            Defaults to 1.
        grid_source (str, optional): Module whose second output is the
            (h, w) token grid of the input, on both sides; None uses
            ``patch_resolution`` and aligns nothing. Defaults to
            ``'backbone.patch_embed'``.
        grid_align (str, optional): ``'bilinear'``, ``'bicubic'`` or None
            (differing grids are an error). Defaults to ``'bilinear'``
            (see :class:`TokenGridAlign`).
        mimic_weight (float): ``alpha``. Defaults to 3e-5.
        generation_weight (float): ``beta``. Defaults to 3e-6.
        mask_ratio (float, optional): ``lambda``, for ``deep='generate'``
            only (an error otherwise). Defaults to None (0.5).
        generator (str): ``'conv'``, ``'self_attn'`` or ``'cross_attn'``.
            Defaults to ``'conv'``.
        num_heads (int): Heads of the attention generators. Defaults to 8.
        deep (str, optional): ``'generate'`` the deep tokens (ViTKD),
            ``'mimic'`` them (the paper's ablation), or None to skip the deep
            layer. Defaults to ``'generate'``.
        nkd (dict, optional): ``NKDLoss`` arguments; None disables NKD.
        logits_source (str, optional): Module whose output is the student's
            logits. Defaults to ``'head.layers.head'``
            (``VisionTransformerClsHead``; ``head.fc`` of a ``LinearClsHead``
            is read from the model).
        teacher_logits_source (str, optional): The same for the teacher
            (e.g. ``'head.fc'`` of EVA-02's ``LinearClsHead``). Defaults to
            ``logits_source``.
        labels_source (str): Module whose second input is the labels.
            Defaults to ``'head.loss_module'``.
        alignment_metrics (bool): Log ``cos_mimic_<i>``, ``cos_gen_masked``,
            ``cos_gen_visible`` (or ``cos_mimic_deep``) and
            ``agree_top1_nkd`` (see :class:`ConfigurableDistiller`).
            Defaults to True.
        init_cfg (dict, optional): Initialisation config.

    Examples:
        >>> # dims, extra tokens and grids read from the two ViTs
        >>> distiller = dict(type='ViTKDDistiller', nkd=dict(gamma=1.0))
        >>> # or all given, for any model with the same module names
        >>> distiller = dict(
        ...     type='ViTKDDistiller', student_dims=192, teacher_dims=384,
        ...     student_extra_tokens=1, teacher_extra_tokens=1)
    """

    def __init__(self,
                 student_dims: Optional[int] = None,
                 teacher_dims: Optional[int] = None,
                 patch_resolution: Union[int, Tuple[int, int], None] = None,
                 teacher_patch_resolution: Union[int, Tuple[int, int],
                                                 None] = None,
                 shallow_layers: Tuple[int, ...] = (0, 1),
                 student_deep_source: Optional[str] = None,
                 teacher_deep_source: Optional[str] = None,
                 student_extra_tokens: Optional[int] = None,
                 teacher_extra_tokens: Optional[int] = None,
                 grid_source: Optional[str] = 'backbone.patch_embed',
                 grid_align: Optional[str] = 'bilinear',
                 mimic_weight: float = 3e-5,
                 generation_weight: float = 3e-6,
                 mask_ratio: Optional[float] = None,
                 generator: str = 'conv',
                 num_heads: int = 8,
                 deep: Optional[str] = 'generate',
                 nkd: Optional[dict] = None,
                 logits_source: Optional[str] = None,
                 teacher_logits_source: Optional[str] = None,
                 labels_source: str = 'head.loss_module',
                 alignment_metrics: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        if deep not in ('generate', 'mimic', None):
            raise ValueError(f"deep must be 'generate', 'mimic' or None, "
                             f'got {deep!r}.')
        _check_terms(shallow_layers, deep, nkd)
        if mask_ratio is not None and deep != 'generate':
            raise ValueError(
                f'distiller.mask_ratio={mask_ratio} has no effect with '
                f"deep={deep!r}: only deep='generate' masks tokens. Drop "
                "mask_ratio or set deep='generate'.")
        mask_ratio = 0.5 if mask_ratio is None else mask_ratio
        for name, value in (('student_dims', student_dims), ('teacher_dims',
                                                             teacher_dims)):
            if value is None:
                raise ValueError(
                    f'{name} is not set and was not read from a model. '
                    'SingleTeacherDistill reads it from mmpretrain ViT '
                    f'backbones; for other models set distiller.{name}.')
        student_extra_tokens = (1 if student_extra_tokens is None else
                                student_extra_tokens)
        teacher_extra_tokens = (1 if teacher_extra_tokens is None else
                                teacher_extra_tokens)
        deep_sources = dict(
            student=student_deep_source or 'backbone.ln1',
            teacher=teacher_deep_source or 'backbone.ln1')
        if grid_source is None and deep == 'generate' and (patch_resolution
                                                           is None):
            raise ValueError('grid_source=None needs patch_resolution (the '
                             "student's token grid) for the generation.")
        mimic = dict(
            type='MimicConnector',
            student_dims=student_dims,
            teacher_dims=teacher_dims,
            num_extra_tokens=student_extra_tokens)
        grid = _grid_listing(grid_source, teacher_extra_tokens, grid_align,
                             teacher_patch_resolution)
        listing = _shallow_listing(shallow_layers, mimic, mimic_weight,
                                   grid.aligned)
        listing.extend(grid)
        if deep == 'generate':
            listing.extend(
                _generation_listing(
                    deep_sources, grid,
                    dict(
                        type='GenerationConnector',
                        student_dims=student_dims,
                        teacher_dims=teacher_dims,
                        mask_ratio=mask_ratio,
                        generator=generator,
                        num_heads=num_heads,
                        patch_resolution=patch_resolution,
                        num_extra_tokens=student_extra_tokens),
                    generation_weight))
        elif deep == 'mimic':
            listing.extend(
                _deep_mimic_listing(deep_sources, grid, mimic, mimic_weight))
        if nkd is not None:
            listing.extend(
                _nkd_listing(nkd, logits_source or 'head.layers.head',
                             teacher_logits_source, labels_source))
        super().__init__(
            student_recorders=listing.recorders['student'],
            teacher_recorders=listing.recorders['teacher'],
            connectors=listing.connectors,
            distill_losses=listing.losses,
            loss_forward_mappings=listing.mappings,
            alignment_metrics=alignment_metrics,
            init_cfg=init_cfg)

    @classmethod
    def complete_cfg(cls, cfg: dict, student: nn.Module,
                     teacher: nn.Module) -> dict:
        """Fill in the settings ``cfg`` leaves out from the two models.

        Reads ``{student,teacher}_{dims,extra_tokens,deep_source}`` from
        each side's mmpretrain ViT backbone (see :func:`vit_layout`) where
        the config does not set them; with ``nkd``, finds each side's logits
        module (from its head, see :func:`head_logits_source`) and checks it
        exists.

        Raises:
            ValueError: A setting is missing and the side's backbone is no
                mmpretrain ViT (the message names the arguments to set); or
                ``nkd`` is set but a side has no logits to read (a headless
                teacher such as DINOv2), or the heads' ``num_classes``
                differ.
        """
        cfg = dict(cfg)
        models = dict(student=student, teacher=teacher)
        layouts = {side: vit_layout(model) for side, model in models.items()}
        for side in ('student', 'teacher'):
            missing = [
                name for name, (owner, _) in _INFERRED.items()
                if owner == side and cfg.get(name) is None
            ]
            if not missing:
                continue
            layout = layouts[side]
            if layout is None:
                backbone = getattr(models[side], 'backbone', models[side])
                raise ValueError(
                    f'distiller: cannot read {", ".join(missing)} from the '
                    f'{side} ({type(backbone).__name__} is no mmpretrain '
                    'VisionTransformer); set them in model.distiller.')
            for name in missing:
                cfg[name] = layout[_INFERRED[name][1]]
        if cfg.get('nkd') is not None:
            for side, key in (('student', 'logits_source'),
                              ('teacher', 'teacher_logits_source')):
                cfg[key] = _logits_source(models[side], side, cfg.get(key),
                                          key)
            _check_num_classes(student, teacher)
        return cfg


def _check_terms(shallow_layers, deep: Optional[str],
                 nkd: Optional[dict]) -> None:
    """Refuse malformed term settings, and a distiller with no term.

    Without a feature term and without NKD nothing is distilled: the
    student would train on its own loss while the teacher's forward ran
    every step for nothing. That is the student's own config, not a
    distillation, so it is refused rather than run with the teacher
    skipped.
    """
    if (isinstance(shallow_layers, (str, bytes))
            or not isinstance(shallow_layers, Sequence) or any(
                isinstance(i, bool) or not isinstance(i, int)
                for i in shallow_layers)):
        raise TypeError('distiller.shallow_layers must be a sequence of '
                        f'block indices, e.g. (0, 1), got {shallow_layers!r}.')
    repeated = sorted(
        {i
         for i in shallow_layers if shallow_layers.count(i) > 1})
    if repeated:
        raise ValueError(f'distiller.shallow_layers={tuple(shallow_layers)} '
                         f'repeats block(s) {repeated}; each block is one '
                         'mimic term, list it once.')
    if nkd is not None and not isinstance(nkd, dict):
        raise TypeError('distiller.nkd must be a dict of NKDLoss arguments '
                        f'(e.g. dict(gamma=1.0)) or None, got {nkd!r}.')
    if not shallow_layers and deep is None and nkd is None:
        raise ValueError(
            'distiller: shallow_layers=(), deep=None and nkd=None leave no '
            'distillation term. Set distiller.shallow_layers, distiller.deep '
            'or distiller.nkd, or train the student config alone.')


def _logits_source(model: nn.Module, side: str, source: Optional[str],
                   key: str) -> str:
    """The module NKD reads the logits of ``side`` from, checked."""
    source = source or head_logits_source(model)
    if source is not None and has_module(model, source):
        return source
    if getattr(model, 'head', None) is None:
        raise ValueError(
            f'distiller.nkd needs the {side}\'s logits, but the {side} '
            f'({type(model).__name__}) has no head: a headless {side} (e.g. '
            'DINOv2) gives no logits. Drop nkd (ViTKD feature losses only) '
            f'or give the {side} a head.')
    raise ValueError(f'distiller.nkd: cannot find the logits of the {side}\'s '
                     f'{type(model.head).__name__}' +
                     (f' (no module {source!r})' if source else '') +
                     f'; set distiller.{key} to the module that outputs them.')


def _check_num_classes(student: nn.Module, teacher: nn.Module) -> None:
    """NKD compares the logits class by class: both heads need the same
    ``num_classes`` (checked where both heads say it)."""
    counts = [
        getattr(getattr(model, 'head', None), 'num_classes', None)
        for model in (student, teacher)
    ]
    if None not in counts and counts[0] != counts[1]:
        raise ValueError(
            f'distiller.nkd compares logits class by class, but the '
            f'student predicts {counts[0]} classes and the teacher '
            f'{counts[1]}. Give the teacher a head with {counts[0]} classes '
            '(fine-tuned on the student\'s data), or drop nkd.')
