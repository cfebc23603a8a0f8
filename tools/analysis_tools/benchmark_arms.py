"""What each arm of the step benchmark builds: its config and its model.

Arms (see ``tools/analysis_tools/benchmark.py``): (a) the student alone,
(b) the student plus a teacher forward that records nothing, (c) the
shipped ViTKD and ViTKD+NKD configs, diagnostics (c'), (c-), (cm), and the
bf16-teacher arms (b16), (c16). Teachers get random weights
(``teacher_ckpt=None``): nothing is downloaded. The ``tiny`` pair is the
same configs with small ViTs on 32 px inputs.
"""
import os.path as osp

import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = dict(
    vitkd=osp.join(REPO_ROOT, 'configs', 'vitkd', 'deit-t_vitkd.py'),
    vitkd_nkd=osp.join(REPO_ROOT, 'configs', 'vitkd', 'deit-t_vitkd-nkd.py'))
ARMS = dict(
    student='(a) student alone',
    floor='(b) student + teacher fwd',
    vitkd='(c) ViTKD',
    vitkd_nkd='(c) ViTKD+NKD',
    no_generator="(c') ViTKD+NKD, no gen.",
    unchecked='(c-) ViTKD+NKD, no NaN guard',
    no_metrics='(cm) ViTKD+NKD, no metrics',
    floor_bf16='(b16) floor, bf16 teacher',
    vitkd_bf16='(c16) ViTKD, bf16 teacher',
    vitkd_nkd_bf16='(c16) ViTKD+NKD, bf16 teacher')
DISTILL_ARMS = ('vitkd', 'vitkd_nkd', 'vitkd_bf16', 'vitkd_nkd_bf16')
#: The arms with ratios, and the references they are divided by.
RATIO_ARMS = ('floor_bf16', ) + DISTILL_ARMS
RATIO_REFS = dict(floor='/(b)', floor_bf16='/(b16)', student='/(a)')
BF16_SUFFIX = '_bf16'

# The tiny pair: the shipped configs with these backbones and inputs.
TINY = dict(
    img_size=32,
    patch_size=4,  # 8 x 8 tokens
    num_classes=100,
    student=dict(
        embed_dims=64, num_layers=4, num_heads=2, feedforward_channels=256),
    teacher=dict(
        embed_dims=128, num_layers=6, num_heads=4, feedforward_channels=512))


def shrink_to_tiny(cfg) -> None:
    """Turn a DeiT distillation config into the tiny pair, in place."""
    model = cfg.model
    grid = TINY['img_size'] // TINY['patch_size']
    for key in ('architecture', 'teacher'):
        arch = TINY['student' if key == 'architecture' else 'teacher']
        model[key].backbone.update(
            arch=dict(arch),
            img_size=TINY['img_size'],
            patch_size=TINY['patch_size'])
        model[key].head.update(
            in_channels=arch['embed_dims'], num_classes=TINY['num_classes'])
    for preprocessor in (model.architecture.get('data_preprocessor'),
                         model.get('data_preprocessor'),
                         cfg.get('data_preprocessor')):
        if preprocessor is not None:
            preprocessor.num_classes = TINY['num_classes']
    # the preset's arguments, or the connectors of a listing
    distiller = model.distiller
    for connector in (distiller, *distiller.get('connectors', {}).values()):
        for key, value in (('student_dims', TINY['student']['embed_dims']),
                           ('teacher_dims', TINY['teacher']['embed_dims']),
                           ('patch_resolution', grid)):
            if key in connector:
                connector[key] = value


def load_config(pair: str, arm: str):
    """The config of ``arm`` (students and teachers: the ViTKD config's;
    a ``*_bf16`` arm's with ``teacher_precision='bf16'``)."""
    from mmengine.config import Config
    base = arm.removesuffix(BF16_SUFFIX)
    cfg = Config.fromfile(
        CONFIGS['vitkd_nkd' if base in ('vitkd_nkd', 'no_generator',
                                        'unchecked',
                                        'no_metrics') else 'vitkd'])
    cfg.model.teacher_ckpt = None
    if arm == 'unchecked':
        cfg.model.check_finite = False
    if arm == 'no_metrics':
        cfg.model.distiller.alignment_metrics = False
    if arm.endswith(BF16_SUFFIX):
        cfg.model.teacher_precision = 'bf16'
    # As the Runner does: a model without its own takes the config's.
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    if pair == 'tiny':
        shrink_to_tiny(cfg)
    return cfg


def build_floor(cfg):
    """(b): ``SingleTeacherDistill`` with a distiller that records nothing
    and has no loss: the teacher's full forward under no_grad, then the
    student's own training step; the least any distiller pays."""
    from mmpretrain.registry import MODELS
    return MODELS.build(
        dict(
            type='vitkd_mm.SingleTeacherDistill',
            architecture=student_config(cfg),
            teacher=cfg.model.teacher,
            teacher_precision=cfg.model.get('teacher_precision', 'fp32'),
            distiller=dict(type='ConfigurableDistiller')))


class PassThroughGenerator(torch.nn.Module):
    """Stands in for a generator: returns the masked grid unchanged."""

    def forward(self, x, visible):
        return x


def remove_generators(model) -> int:
    """Replace the generator of every ``GenerationConnector`` in ``model``
    by a pass-through; return how many were replaced."""
    from vitkd_mm.models.connectors import GenerationConnector
    connectors = [
        m for m in model.modules() if isinstance(m, GenerationConnector)
    ]
    for connector in connectors:
        connector.generator = PassThroughGenerator()
    return len(connectors)


def student_config(cfg):
    """The student as a stock config builds it: its own data preprocessor,
    else the one the distiller hands it (the Runner's top-level one)."""
    student = cfg.model.architecture.copy()
    preprocessor = cfg.model.get('data_preprocessor')
    if isinstance(preprocessor, dict):
        student.setdefault('data_preprocessor', preprocessor)
    return student


def build_arm(cfg, arm: str):
    from mmpretrain.registry import MODELS
    if arm == 'student':
        return MODELS.build(student_config(cfg))
    if arm.removesuffix(BF16_SUFFIX) == 'floor':
        return build_floor(cfg)
    model = MODELS.build(cfg.model)
    if arm == 'no_generator' and remove_generators(model) == 0:
        raise RuntimeError('no GenerationConnector in the ViTKD+NKD config')
    return model


def build_optim_wrapper(cfg, model, amp):
    from mmengine.optim import build_optim_wrapper as build
    optim_cfg = cfg.get('optim_wrapper') or dict(
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
    optim_cfg = optim_cfg.copy()
    if amp:
        optim_cfg.update(
            type='AmpOptimWrapper',
            dtype='bfloat16' if amp == 'bf16' else 'float16',
            loss_scale='dynamic')
    return build(model, optim_cfg)


def make_batch(images, num_classes):
    """A data batch as the dataloader yields it: uint8 images, labels."""
    from mmpretrain.structures import DataSample
    return dict(
        inputs=images,
        data_samples=[
            DataSample().set_gt_label(i % num_classes)
            for i in range(len(images))
        ])


def augment_names(model):
    augments = getattr(model.data_preprocessor, 'batch_augments', None)
    if augments is None:
        return 'none'
    return '+'.join(type(a).__name__ for a in augments.augments)
