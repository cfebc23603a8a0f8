"""Any ViT teacher: dims and grids read from the models, token-grid
alignment, teacher input adaptation, and their errors."""
import pytest
import torch
import torch.nn.functional as F

from vitkd_mm.models.distillers.vit_layout import vit_layout
from vitkd_mm.registry import MODELS

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def classifier(backbone, head_dims=None):
    """An ImageClassifier config; ``head_dims`` None means headless."""
    head = None if head_dims is None else dict(
        type='VisionTransformerClsHead', num_classes=3, in_channels=head_dims)
    return dict(
        type='ImageClassifier', backbone=backbone, neck=None, head=head)


def tiny_vit(dims, img_size, patch_size, **kwargs):
    return dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=dims,
            num_layers=2,
            num_heads=2,
            feedforward_channels=2 * dims),
        img_size=img_size,
        patch_size=patch_size,
        **kwargs)


def distill(student, teacher, distiller=None, **kwargs):
    """SingleTeacherDistill of two configs, in eval-free train mode."""
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='vitkd_mm.SingleTeacherDistill',
            architecture=student,
            teacher=teacher,
            distiller=dict(type='ViTKDDistiller', **(distiller or {})),
            **kwargs))


def loss_inputs(model, inputs, labels=(0, 1)):
    """Run ``model.loss`` and return each distill loss's keyword inputs."""
    from mmpretrain.structures import DataSample
    seen = {}
    for name, loss in model.distiller.distill_losses.items():
        loss.register_forward_pre_hook(
            lambda module, args, kwargs, name=name: seen.update({name: kwargs}
                                                                ),
            with_kwargs=True)
    samples = [DataSample().set_gt_label(label) for label in labels]
    model.loss(inputs, samples)
    return seen


def raw_tokens(classifier, inputs):
    """All tokens after the final norm, read without hooks."""
    backbone = classifier.backbone
    backbone.out_type = 'raw'
    try:
        with torch.no_grad():
            return backbone(inputs)[-1]  # B, E + N, D
    finally:
        backbone.out_type = 'cls_token'


@pytest.mark.parametrize(
    'backbone, expected',
    [
        (dict(type='VisionTransformer', arch='deit-tiny', img_size=224),
         (192, 1, 'backbone.ln1')),
        (dict(
            type='DistilledVisionTransformer', arch='deit-tiny', img_size=224),
         (192, 2, 'backbone.ln1')),
        (dict(type='DeiT3', arch='s', img_size=224), (384, 1, 'backbone.ln1')),
        (dict(
            type='VisionTransformer',
            arch='dinov2-small',
            img_size=224,
            patch_size=14,
            layer_scale_init_value=1e-5), (384, 1, 'backbone.ln1')),
        # EVA-02 has no final norm: the deep feature is its last block's
        (dict(
            type='ViTEVA02',
            arch='s',
            img_size=336,
            patch_size=14,
            final_norm=False,
            out_type='avg_featmap'), (384, 1, 'backbone.layers.11')),
    ])
def test_vit_layout_of_real_backbones(backbone, expected):
    model = MODELS.build(classifier(backbone))
    layout = vit_layout(model)
    assert (layout['dims'], layout['extra_tokens'],
            layout['deep_source']) == expected
    model.get_submodule(layout['deep_source'])  # exists


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


@pytest.mark.parametrize('mode', ['bilinear', 'bicubic'])
@pytest.mark.parametrize('size', [(28, 28), (28, 20)])
def test_aligned_teacher_target_is_interpolated_teacher_grid(mode, size):
    """Patch 7 teacher (4 x 4 on 28 px; 4 x 3 on 28 x 20, padded to 21)
    -> patch 4 student (7 x 7; 7 x 5)."""
    student = classifier(tiny_vit(8, 28, 4), 8)
    teacher = classifier(tiny_vit(16, 28, 7), 16)
    model = distill(student, teacher, dict(grid_align=mode))
    x = torch.randn(2, 3, *size)
    seen = loss_inputs(model, x)
    (hs, ws), (ht, wt) = {
        (28, 28): ((7, 7), (4, 4)),
        (28, 20): ((7, 5), (4, 3))
    }[size]
    tokens = raw_tokens(model.teacher, x)[:, 1:]  # B, ht * wt, 16
    grid = tokens.reshape(2, ht, wt, 16).permute(0, 3, 1, 2)
    expected = F.interpolate(
        grid, size=(hs, ws), mode=mode, align_corners=False)
    expected = expected.permute(0, 2, 3, 1).reshape(2, hs * ws, 16)
    torch.testing.assert_close(seen['loss_gen']['preds_T'], expected)
    assert seen['loss_gen']['preds_S'].shape == (2, hs * ws, 16)
    assert seen['loss_mimic_0']['preds_T'].shape == (2, hs * ws, 16)


def test_equal_grids_are_not_resampled():
    student = classifier(tiny_vit(8, 28, 4), 8)
    teacher = classifier(tiny_vit(16, 28, 4), 16)
    model = distill(student, teacher, dict(grid_align='bicubic'))
    x = torch.randn(2, 3, 28, 28)
    seen = loss_inputs(model, x)
    torch.testing.assert_close(seen['loss_gen']['preds_T'],
                               raw_tokens(model.teacher, x)[:, 1:])


def test_config_grid_is_checked_not_used_to_reshape():
    """patch_resolution (8, 4) on a real 4 x 8 grid (16 x 32 input)."""
    student = classifier(tiny_vit(8, (16, 32), 4), 8)
    teacher = classifier(tiny_vit(16, (16, 32), 4), 16)
    model = distill(student, teacher, dict(patch_resolution=(8, 4)))
    with pytest.raises(
            ValueError,
            match=r'patch_resolution=\(8, 4\) but the '
            r'input gives a \(4, 8\) token grid'):
        loss_inputs(model, torch.randn(2, 3, 16, 32))
    model = distill(student, teacher, dict(teacher_patch_resolution=(8, 4)))
    with pytest.raises(
            ValueError,
            match=r'TokenGridAlign: patch_resolution='
            r'\(8, 4\) but the input gives a \(4, 8\)'):
        loss_inputs(model, torch.randn(2, 3, 16, 32))


def test_unalignable_grid_is_an_error():
    """A teacher input resized to the transposed size gives an 8 x 4 grid
    against the student's 4 x 8: not the same image."""
    student = classifier(tiny_vit(8, (16, 32), 4), 8)
    teacher = classifier(tiny_vit(16, (16, 32), 4), 16)
    model = distill(student, teacher, teacher_input=dict(size=(32, 16)))
    with pytest.raises(
            ValueError,
            match=r'cannot align a \(8, 4\) token grid '
            r'to \(4, 8\): their aspect ratios differ'):
        loss_inputs(model, torch.randn(2, 3, 16, 32))
    model = distill(student, classifier(tiny_vit(16, 28, 7), 16),
                    dict(grid_align=None))
    with pytest.raises(
            ValueError,
            match=r"token grid \(4, 4\) differs from "
            r"the student's \(7, 7\) and mode=None"):
        loss_inputs(model, torch.randn(2, 3, 28, 28))


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


def student_teacher_preprocessors():
    """Student: BGR -> RGB, ImageNet-like stats; teacher: BGR, its own."""
    student = dict(
        type='ClsDataPreprocessor',
        mean=[10., 20., 30.],
        std=[2., 3., 4.],
        to_rgb=True)
    teacher = dict(mean=[1., 2., 3.], std=[5., 6., 7.], to_rgb=False)
    return student, teacher


@pytest.mark.parametrize('where', ['teacher_input', 'data_preprocessor'])
def test_teacher_input_is_renormalised_and_resized(where):
    from mmpretrain.structures import DataSample
    student_pre, teacher_norm = student_teacher_preprocessors()
    student = classifier(tiny_vit(8, 28, 4), 8)
    student['data_preprocessor'] = student_pre
    teacher = classifier(tiny_vit(16, 28, 4), 16)
    if where == 'teacher_input':
        teacher_input = dict(teacher_norm, size=(35, 35))
    else:  # the teacher's own data preprocessor settings, and a size
        teacher['data_preprocessor'] = dict(
            type='ClsDataPreprocessor', **teacher_norm)
        teacher_input = dict(size=(35, 35))
    model = distill(student, teacher, teacher_input=teacher_input)
    seen = []
    model.teacher.backbone.register_forward_pre_hook(
        lambda module, args: seen.append(args[0]))
    raw = torch.randint(0, 256, (2, 3, 28, 28), dtype=torch.uint8)  # BGR
    data = model.data_preprocessor(
        dict(
            inputs=list(raw), data_samples=[DataSample().set_gt_label(0)] * 2),
        True)
    model.loss(data['inputs'], data['data_samples'])
    # independent reference: from the raw BGR image, the teacher's own
    # normalisation (BGR order, no flip), then the resize
    mean_t = torch.tensor(teacher_norm['mean']).view(1, 3, 1, 1)
    std_t = torch.tensor(teacher_norm['std']).view(1, 3, 1, 1)
    expected = F.interpolate(
        (raw.float() - mean_t) / std_t,
        size=(35, 35),
        mode='bilinear',
        align_corners=False)
    torch.testing.assert_close(seen[0], expected)
    # the same through the formula on the student's batch
    x = data['inputs']  # RGB, student-normalised
    mean_s = torch.tensor(student_pre['mean']).view(1, 3, 1, 1)
    std_s = torch.tensor(student_pre['std']).view(1, 3, 1, 1)
    formula = ((x * std_s + mean_s).flip(1) - mean_t) / std_t
    torch.testing.assert_close(
        seen[0],
        F.interpolate(
            formula, size=(35, 35), mode='bilinear', align_corners=False))
    # the student's own forward sees its batch unchanged
    assert data['inputs'].shape == (2, 3, 28, 28)


def test_teacher_input_errors():
    student = classifier(tiny_vit(8, 28, 4), 8)
    teacher = classifier(tiny_vit(16, 28, 4), 16)
    with pytest.raises(
            KeyError, match=r"teacher_input has unknown key\(s\) "
            r"\['bgr'\]"):
        distill(student, teacher, teacher_input=dict(bgr=True))
    with pytest.raises(ValueError, match='teacher_input.size must be'):
        distill(student, teacher, teacher_input=dict(size=(1, 2, 3)))


def test_teacher_own_preprocessor_is_honoured_without_teacher_input():
    """A teacher config with its own normalisation (mean 0, std 255) and no
    teacher_input gets its own, not the student's: inputs in [0, 1]."""
    student = classifier(tiny_vit(8, 28, 4), 8)
    student['data_preprocessor'] = dict(
        type='ClsDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3)
    teacher = classifier(tiny_vit(16, 28, 4), 16)
    teacher['data_preprocessor'] = dict(
        type='ClsDataPreprocessor', mean=[0.] * 3, std=[255.] * 3)
    model = distill(student, teacher)
    raw = torch.randint(0, 256, (2, 3, 28, 28)).float()
    student_batch = (raw - 127.5) / 127.5
    torch.testing.assert_close(model.teacher_input(student_batch), raw / 255)


def test_teacher_input_equal_to_the_student_is_the_batch_itself():
    """Same normalisation, no resize: nothing is recomputed (bit-exact)."""
    student_pre, _ = student_teacher_preprocessors()
    student = classifier(tiny_vit(8, 28, 4), 8)
    student['data_preprocessor'] = student_pre
    teacher = classifier(tiny_vit(16, 28, 4), 16)
    teacher['data_preprocessor'] = dict(student_pre)
    for teacher_input in (None, dict(), dict(mean=student_pre['mean'])):
        model = distill(student, teacher, teacher_input=teacher_input)
        x = torch.randn(2, 3, 28, 28)
        assert model.teacher_input(x) is x


@pytest.mark.parametrize('teacher_input, match', [
    (dict(mean=[1., 2., 3.], std=[5., 6.]), r"the teacher's std \[5.0, 6.0\] "
     'must have one non-zero value per value of its mean'),
    (dict(std=[5., 0., 7.]), 'must have one non-zero value'),
    (dict(size=16, mode='bilinar'), 'teacher_input.mode must be one of'),
    (dict(size=True), 'teacher_input.size must be a positive int'),
])
def test_teacher_input_values_are_checked_at_build(teacher_input, match):
    student = classifier(tiny_vit(8, 28, 4), 8)
    teacher = classifier(tiny_vit(16, 28, 4), 16)
    with pytest.raises(ValueError, match=match):
        distill(student, teacher, teacher_input=teacher_input)


def test_teacher_input_nearest_resize_works():
    """``mode='nearest'`` takes no ``align_corners``: it must not get one."""
    student = classifier(tiny_vit(8, 28, 4), 8)
    teacher = classifier(tiny_vit(16, 32, 4), 16)
    model = distill(
        student, teacher, teacher_input=dict(size=32, mode='nearest'))
    x = torch.randn(1, 3, 28, 28)
    torch.testing.assert_close(
        model.teacher_input(x), F.interpolate(x, size=32, mode='nearest'))


def test_three_channel_teacher_on_a_one_channel_batch_is_refused():
    student = classifier(tiny_vit(8, 28, 4, in_channels=1), 8)
    teacher = classifier(tiny_vit(16, 28, 4), 16)
    model = distill(
        student,
        teacher,
        teacher_input=dict(mean=[1., 2., 3.], std=[4., 5., 6.]))
    with pytest.raises(ValueError, match='the batch has 1 channel'):
        model.teacher_input(torch.zeros(2, 1, 28, 28))
