"""Token grids: the teacher's grid aligned (interpolated) to the
student's, a configured grid checked against the input's, and grids that
cannot be aligned."""
import pytest
import torch
import torch.nn.functional as F

from tests.utils import classifier, distill, loss_inputs, tiny_vit

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def raw_tokens(classifier, inputs):
    """All tokens after the final norm, read without hooks."""
    backbone = classifier.backbone
    backbone.out_type = 'raw'
    try:
        with torch.no_grad():
            return backbone(inputs)[-1]  # B, E + N, D
    finally:
        backbone.out_type = 'cls_token'


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
