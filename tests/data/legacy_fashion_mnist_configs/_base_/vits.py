# The two DeiT-style ViTs of the Fashion-MNIST kit. 28 x 28 inputs, 4 x 4
# patches: a real 7 x 7 token grid plus the cls token (N = 49, E = 1).
# Like DeiT-Tiny <- DeiT III-Small: same depth, the teacher twice as wide,
# head dims 24 on both sides.
# Distillation configs read them as {{_base_.student_model}} and
# {{_base_.teacher_model}}.


def _vit(embed_dims, num_heads):
    return dict(
        type='ImageClassifier',
        backbone=dict(
            type='VisionTransformer',
            arch=dict(
                embed_dims=embed_dims,
                num_layers=6,
                num_heads=num_heads,
                feedforward_channels=4 * embed_dims),
            img_size=28,
            patch_size=4,
            in_channels=1,
            drop_path_rate=0.0),
        neck=None,
        head=dict(
            type='VisionTransformerClsHead',
            num_classes=10,
            in_channels=embed_dims,
            loss=dict(
                type='LabelSmoothLoss', label_smooth_val=0.1,
                mode='original')),
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=.02),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
        ])


student_model = _vit(48, 2)
teacher_model = _vit(96, 4)
