"""The Mask R-CNN configs (DeiT backbone, simple feature pyramid): complete,
their backbone loads the exported ViTKD student, `mim train` / `mim test`
on tiny COCO-format data; and the position embedding interpolation of
mmpretrain's VisionTransformer they rely on (non-square images).

Needs the detection extra (mmdet and full mmcv with compiled ops); skipped
without it.
"""
import logging
import math
import os
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmpretrain.models import VisionTransformer

from tests.utils import (REPO_ROOT, VITKD_T_1X, convert_to_student,
                         make_distill_checkpoint, read_run, run_mim,
                         tiny_data_options)

pytest.importorskip(
    'mmdet', reason='needs mmdet 3.3.0 and full mmcv (tools/install.sh --det)')
pytest.importorskip('mmcv.ops', reason='needs full mmcv (compiled ops)')

# needs mmdet
from dataset_converters.make_tiny_coco import LABELME_COCO  # noqa: E402
from dataset_converters.make_tiny_coco import make_labelme  # noqa: E402
from dataset_converters.make_tiny_coco import make_synthetic  # noqa: E402

CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'mask_rcnn')


# --------------------------------------------------------------------------
# Position embedding interpolation in mmpretrain's VisionTransformer
# --------------------------------------------------------------------------
def cubic_resize_matrix(src, dst, a=-0.75):
    """Keys' bicubic resampling as a ``dst x src`` matrix.

    Half-pixel centres (``align_corners=False``), border samples repeated:
    what ``F.interpolate(mode='bicubic')`` does, written out independently.
    """

    def kernel(t):
        t = abs(t)
        if t <= 1:
            return (a + 2) * t**3 - (a + 3) * t**2 + 1
        if t < 2:
            return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
        return 0.0

    matrix = torch.zeros(dst, src, dtype=torch.float64)
    for i in range(dst):
        x = (i + 0.5) * src / dst - 0.5
        left = math.floor(x)
        for k in range(left - 1, left + 3):
            matrix[i, min(max(k, 0), src - 1)] += kernel(x - k)
    return matrix


def test_cubic_reference_by_hand():
    # 2 -> 3 columns: the middle sample sits halfway, at x = 0.5, where the
    # kernel weights (-3/32, 19/32, 19/32, -3/32) with clamped borders add
    # up to (1/2, 1/2).
    matrix = cubic_resize_matrix(2, 3)
    torch.testing.assert_close(matrix[1], torch.tensor([0.5, 0.5]).double())
    # same size: identity
    torch.testing.assert_close(
        cubic_resize_matrix(4, 4), torch.eye(4, dtype=torch.float64))


def test_pos_embed_is_interpolated_for_the_input_grid():
    """A 32 x 32 ViT (2 x 2 grid) fed 32 x 48 adds a bicubic 2 x 3 pos-embed.

    The patch projection is zeroed, so the tokens entering the first block
    are exactly the class token and the (resized) position embedding.
    """
    arch = dict(
        embed_dims=4, num_layers=1, num_heads=1, feedforward_channels=8)
    vit = VisionTransformer(
        arch=arch, img_size=32, patch_size=16, out_type='featmap')
    torch.nn.init.zeros_(vit.patch_embed.projection.weight)
    torch.nn.init.zeros_(vit.patch_embed.projection.bias)
    with torch.no_grad():
        vit.pos_embed.copy_(torch.randn(1, 1 + 2 * 2, 4))
    tokens = {}
    vit.drop_after_pos.register_forward_hook(
        lambda module, args, out: tokens.setdefault('x', out))
    out = vit(torch.rand(1, 3, 32, 48))[0]
    assert out.shape == (1, 4, 2, 3)

    grid = vit.pos_embed[0, 1:].detach().double().reshape(2, 2, 4)  # h, w, C
    rows, cols = cubic_resize_matrix(2, 2), cubic_resize_matrix(2, 3)
    expected = torch.einsum('ih,jw,hwc->ijc', rows, cols, grid)  # 2, 3, C
    torch.testing.assert_close(tokens['x'][0, 0], vit.pos_embed[0, 0])
    torch.testing.assert_close(tokens['x'][0, 1:],
                               expected.reshape(6, 4).float())
    # the middle column is the mean of the two original columns
    torch.testing.assert_close(expected[:, 1], grid.mean(dim=1))


# --------------------------------------------------------------------------
# Configs and checkpoint loading
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def student_ckpt(tmp_path_factory):
    folder = tmp_path_factory.mktemp('student')
    src = make_distill_checkpoint(str(folder / 'epoch_1.pth'))
    return convert_to_student(src, str(folder / 'deit-t_vitkd_student.pth'))


def test_configs_are_complete():
    # the detection distillation config: test_mask_rcnn_distill.py
    names = sorted(
        p for p in os.listdir(CONFIG_DIR)
        if p.endswith('.py') and '-det_' not in p)
    assert len(names) == 12
    dims = {'deit-tiny': 192, 'deit-small': 384, 'deit-base': 768}
    for name in names:
        cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
        backbone = cfg.model.backbone
        assert cfg.custom_imports.imports == ['vitkd_mm']
        assert backbone.type == 'mmpretrain.VisionTransformer'
        assert backbone.out_type == 'featmap'
        assert cfg.model.neck.in_channels == dims[backbone.arch]
        assert backbone.init_cfg.prefix == 'backbone.'
        size = name.split('_')[1]  # deit-t or deit-t-vitkd
        if size.endswith('-vitkd'):
            assert backbone.init_cfg.checkpoint == (
                f'checkpoints/{size[:6]}_vitkd_student.pth')
        else:
            assert backbone.init_cfg.checkpoint.startswith('https://')
            assert backbone.arch + '_' in backbone.init_cfg.checkpoint
        assert cfg.optim_wrapper.optimizer.type == 'AdamW'
        assert cfg.train_cfg.max_epochs == 12
        assert cfg.train_dataloader.dataset.type == (
            'RepeatDataset' if 'ms-poly-3x' in name else 'CocoDataset')


def build_detector(checkpoint):
    """The DeiT-T ViTKD Mask R-CNN, initialised; returns (model, log)."""
    from mmdet.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO_ROOT, VITKD_T_1X))
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger.addHandler(handler)
    try:
        with DefaultScope.overwrite_default_scope('mmdet'):
            model = MODELS.build(cfg.model)
            model.init_weights()
    finally:
        logger.removeHandler(handler)
    return model, '\n'.join(records)


def test_backbone_loads_exported_student(student_ckpt, tmp_path):
    model, log = build_detector(student_ckpt)
    expected = {
        key[len('backbone.'):]: value
        for key, value in torch.load(student_ckpt)['state_dict'].items()
        if key.startswith('backbone.')
    }
    loaded = model.backbone.state_dict()
    assert loaded.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key
    assert f'load backbone. in model from: {student_ckpt}' in log
    assert 'missing keys' not in log and 'unexpected key' not in log

    # with a DeiT-T image 200 x 328 the detector's features are the pyramid
    feats = model.extract_feat(torch.rand(1, 3, 200, 328))
    assert [f.shape[-2:] for f in feats] == [(52, 84), (26, 42), (13, 21),
                                             (6, 10), (3, 5)]


def test_backbone_load_reports_missing_keys(tmp_path):
    """The log check is meaningful: a student without ``ln1`` shows up."""
    src = make_distill_checkpoint(
        str(tmp_path / 'no_ln1.pth'), final_norm=False)
    ckpt = convert_to_student(src, str(tmp_path / 'no_ln1_student.pth'))
    _, log = build_detector(ckpt)
    assert 'missing keys in source state_dict: ln1.weight, ln1.bias' in log


def test_unexported_checkpoint_is_refused(tmp_path):
    """The raw distillation checkpoint has no ``backbone.`` keys."""
    src = make_distill_checkpoint(str(tmp_path / 'epoch_1.pth'))
    with pytest.raises(AssertionError, match='backbone. is not in'):
        build_detector(src)


# --------------------------------------------------------------------------
# End to end: mim train / mim test on tiny COCO-format data
# --------------------------------------------------------------------------
def train_and_check(data_root, num_train, student_ckpt, work_dir):
    """``mim train`` the DeiT-T ViTKD config for one epoch; check the log.

    Returns:
        list[str]: The ``--cfg-options`` pointing the config at the data.
    """
    options = tiny_data_options(data_root)
    run_mim('train', 'mmdet', VITKD_T_1X, '--gpus', '0', '--work-dir',
            work_dir, '--cfg-options', *options, 'train_cfg.max_epochs=1',
            'train_cfg.val_begin=2', 'train_dataloader.batch_size=1',
            'default_hooks.logger.interval=1',
            f'model.backbone.init_cfg.checkpoint={student_ckpt}')
    log, records = read_run(work_dir)

    # one iteration per image, every loss finite
    losses = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in losses] == list(range(1, num_train + 1))
    for record in losses:
        for key in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox',
                    'loss_mask'):
            assert math.isfinite(record[key]), (key, record)

    # the backbone was loaded from the student, every parameter of it
    assert f'load backbone. in model from: {student_ckpt}' in log
    assert 'missing keys' not in log and 'unexpected key' not in log
    init_info = dict(
        re.findall(r'^(backbone\.\S+) - torch\.Size\(.*\): \n(.*)$', log,
                   re.MULTILINE))
    student_keys = {
        key
        for key in torch.load(student_ckpt)['state_dict']
        if key.startswith('backbone.')
    }
    assert init_info.keys() == student_keys
    assert set(
        init_info.values()) == {f'PretrainedInit: load from {student_ckpt} '}
    return options


def test_mim_train_and_test_on_tiny_coco(student_ckpt, tmp_path):
    data_root = str(tmp_path / 'coco')
    make_synthetic(data_root, num_train=3, num_val=2)
    work_dir = str(tmp_path / 'train')
    options = train_and_check(data_root, 3, student_ckpt, work_dir)

    test_dir = str(tmp_path / 'test')
    run_mim('test', 'mmdet', VITKD_T_1X, '--gpus', '0', '--checkpoint',
            osp.join(work_dir, 'epoch_1.pth'), '--work-dir', test_dir,
            '--cfg-options', *options)
    _, records = read_run(test_dir)
    metrics = records[-1]
    for name in ('coco/bbox_mAP', 'coco/segm_mAP', 'coco/bbox_mAP_50',
                 'coco/segm_mAP_50'):
        assert 0.0 <= metrics[name] <= 1.0, (name, metrics)


@pytest.mark.skipif(
    not osp.isdir(LABELME_COCO),
    reason='needs Debian\'s labelme-examples (apt-get install it)')
def test_mim_train_on_labelme_example(student_ckpt, tmp_path):
    data_root = str(tmp_path / 'labelme')
    make_labelme(data_root)
    train_and_check(data_root, 3, student_ckpt, str(tmp_path / 'train'))
