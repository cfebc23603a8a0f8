"""ViTKDDistiller: the preset's dims, grids and sources read from the
models (any ViT teacher), explicit settings, and settings that are
refused at build naming the key."""
import pytest
import torch

from tests.utils import classifier, distill, loss_inputs, tiny_vit, vitkd_cfg
from vitkd_mm.registry import MODELS

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def test_dims_and_grids_read_from_deit_t_and_dinov2_s():
    """DeiT-T (14 x 14 at 224 px) <- DINOv2-S/14 (16 x 16 at 224 px)."""
    student = classifier(
        dict(type='VisionTransformer', arch='deit-tiny', img_size=224), 192)
    student['head']['num_classes'] = 3
    teacher = classifier(
        dict(
            type='VisionTransformer',
            arch='dinov2-small',
            img_size=224,
            patch_size=14,
            layer_scale_init_value=1e-5))
    model = distill(student, teacher)
    connectors = model.distiller.connectors
    assert (connectors.mimic0.proj.in_features,
            connectors.mimic0.proj.out_features) == (192, 384)
    assert connectors.generation.teacher_dims == 384
    grids = []
    connectors.patch_tokens.register_forward_pre_hook(
        lambda module, args, kwargs: grids.append(
            (args[0].shape[1], kwargs['hw_shape'], kwargs['target_hw'])),
        with_kwargs=True)
    x = torch.randn(1, 3, 224, 224)
    seen = loss_inputs(model, x, labels=(0, ))
    assert grids == [(1 + 256, (16, 16), (14, 14))] * 3
    assert seen['loss_gen']['preds_T'].shape == (1, 196, 384)


def test_explicit_arguments_win():
    student = classifier(tiny_vit(8, 28, 4), 8)
    teacher = classifier(tiny_vit(16, 28, 4), 16)
    model = distill(
        student, teacher,
        dict(student_extra_tokens=0, teacher_deep_source='backbone.layers.1'))
    assert model.distiller.connectors.mimic0.num_extra_tokens == 0
    assert model.distiller.connectors.patch_tokens.num_extra_tokens == 1
    recorder = model.distiller.teacher_recorders.get_recorder('deep')
    assert recorder.source == 'backbone.layers.1'


def test_headless_teacher_with_nkd_is_refused():
    student = classifier(tiny_vit(8, 28, 4), 8)
    teacher = classifier(tiny_vit(16, 28, 4))  # no head
    with pytest.raises(
            ValueError,
            match=r"distiller.nkd needs the teacher's "
            r'logits, but the teacher \(ImageClassifier\) has no '
            'head'):
        distill(student, teacher, dict(nkd=dict(gamma=1.0)))
    distill(student, teacher)  # feature losses only: fine


def test_non_vit_teacher_needs_explicit_settings():
    student = classifier(tiny_vit(8, 32, 4), 8)
    teacher = dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=512))
    with pytest.raises(
            ValueError,
            match=r'cannot read teacher_dims, '
            'teacher_extra_tokens, teacher_deep_source from the '
            r'teacher \(ResNet is no mmpretrain VisionTransformer'
            r'\); set them in model.distiller'):
        distill(student, teacher, dict(deep=None, grid_source=None))


def test_a_distiller_without_any_term_is_refused():
    with pytest.raises(
            ValueError,
            match=r'shallow_layers=\(\), deep=None and nkd=None leave no '
            r'distillation term. Set distiller.shallow_layers, '
            r'distiller.deep or distiller.nkd'):
        MODELS.build(vitkd_cfg(shallow_layers=(), deep=None))
    # NKD alone (deit-t_nkd.py) is a distillation
    model = MODELS.build(
        vitkd_cfg(shallow_layers=(), deep=None, nkd=dict(gamma=1.0)))
    assert list(model.distiller.distill_losses) == ['loss_nkd']


@pytest.mark.parametrize(
    'settings, error, message',
    [
        (dict(shallow_layers=2), TypeError,
         r'distiller.shallow_layers must be a sequence of block indices'),
        (dict(nkd=True), TypeError, r'distiller.nkd must be a dict of '
         r'NKDLoss arguments'),
        (dict(shallow_layers=(0, 0)), ValueError,
         r'distiller.shallow_layers=\(0, 0\) repeats block\(s\) \[0\]'),
        (dict(deep='mimic', mask_ratio=0.75), ValueError,
         r"distiller.mask_ratio=0.75 has no effect with deep='mimic'"),
        (dict(deep=None, mask_ratio=0.75), ValueError,
         r'distiller.mask_ratio=0.75 has no effect with deep=None'),
        # held: out-of-range blocks and ratios are build errors
        (dict(shallow_layers=(0, 5)), ValueError, r'backbone.layers.5'),
        (dict(mask_ratio=1.0), ValueError, r'mask_ratio'),
    ])
def test_malformed_distiller_settings_name_the_key(settings, error, message):
    with pytest.raises(error, match=message):
        MODELS.build(vitkd_cfg(**settings))


def test_nkd_between_heads_of_other_class_counts_is_a_build_error():
    cfg = vitkd_cfg(nkd=dict(gamma=1.0))
    cfg.teacher.head.num_classes = 100
    with pytest.raises(
            ValueError,
            match=r'distiller.nkd compares logits class by class, but the '
            r'student predicts 3 classes and the teacher 100'):
        MODELS.build(cfg)
