"""vit_layout and head_logits_source: what the ViTKD preset reads from a
ViT classifier (dims, extra tokens, deep feature, the logits of its
head)."""
import pytest
import torch

from tests.utils import classifier, fake_batch, vitkd_cfg
from vitkd_mm.models import NKDLoss
from vitkd_mm.models.distillers.vit_layout import vit_layout
from vitkd_mm.registry import MODELS

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


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


def tiny_deit(embed_dims, num_layers):
    """A tiny DeiT with a distillation token and its two-linear head."""
    return dict(
        type='ImageClassifier',
        backbone=dict(
            type='DistilledVisionTransformer',
            arch=dict(
                embed_dims=embed_dims,
                num_layers=num_layers,
                num_heads=2,
                feedforward_channels=2 * embed_dims),
            img_size=32,
            patch_size=8),
        head=dict(
            type='DeiTClsHead',
            num_classes=3,
            in_channels=embed_dims,
            loss=dict(type='CrossEntropyLoss')))


def test_nkd_reads_the_averaged_prediction_of_deit_heads():
    cfg = vitkd_cfg(nkd=dict(gamma=1.0))
    cfg.architecture, cfg.teacher = tiny_deit(16, 2), tiny_deit(24, 3)
    model = MODELS.build(cfg)
    torch.manual_seed(0)
    for net in (model.architecture, model.teacher):
        for linear in net.head.layers:  # DeiT inits them to 0
            torch.nn.init.normal_(linear.weight)
    batch = model.data_preprocessor(fake_batch(), True)
    with pytest.warns(UserWarning, match='cannot train the distilled'):
        losses = model(**batch, mode='loss')
    with torch.no_grad():
        predicted = dict(
            student=model.architecture(batch['inputs'], mode='tensor'),
            teacher=model.teacher(batch['inputs'], mode='tensor'))
    recorded = dict(
        student=model.distiller.student_recorders.get_recorder(
            'logits').get_record_data(),
        teacher=model.distiller.teacher_recorders.get_recorder(
            'logits').get_record_data())
    for side in ('student', 'teacher'):
        # the mean of head and head_dist, not the cls head alone
        torch.testing.assert_close(recorded[side], predicted[side])
    labels = torch.tensor([s.gt_label.item() for s in batch['data_samples']])
    expected = NKDLoss(gamma=1.0)(predicted['student'], predicted['teacher'],
                                  labels)
    torch.testing.assert_close(losses['distill.loss_nkd'], expected)
    # held: the teacher's two extra tokens are dropped (4 x 4 patch tokens)
    assert losses['distill.loss_mimic_0'].isfinite()
