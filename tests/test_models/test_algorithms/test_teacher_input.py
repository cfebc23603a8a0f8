"""TeacherInput: the teacher gets the student's batch with its own
normalisation and input size; and its errors."""
import pytest
import torch
import torch.nn.functional as F

from tests.utils import classifier, distill, tiny_vit

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


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
