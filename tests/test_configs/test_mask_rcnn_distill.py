"""ViTKD during detection fine-tuning: DeiT-S Mask R-CNN -> DeiT-T Mask R-CNN.

Needs the detection extra (mmdet and full mmcv with compiled ops); skipped
without it.
"""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from tests.utils import (REPO_ROOT, convert_to_student,
                         make_distill_checkpoint, read_run, run_mim,
                         tiny_data_options)
from vitkd_mm.registry import MODELS

pytest.importorskip(
    'mmdet', reason='needs mmdet 3.3.0 and full mmcv (tools/install.sh --det)')
pytest.importorskip('mmcv.ops', reason='needs full mmcv (compiled ops)')

# needs mmdet
from dataset_converters.make_tiny_coco import make_synthetic  # noqa: E402

CONFIG = 'configs/mask_rcnn/mask-rcnn_deit-t-vitkd-det_deit-s_sfp_1x_coco.py'
DISTILL_LOSSES = ('loss_mimic_0', 'loss_mimic_1', 'loss_gen')
ALIGNMENT_METRICS = ('cos_mimic_0', 'cos_mimic_1', 'cos_gen_masked',
                     'cos_gen_visible')
STUDENT_LOSSES = ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox',
                  'loss_mask')


def load_cfg():
    """The config with no checkpoint to read (random weights)."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, CONFIG))
    cfg.model.teacher_ckpt = None
    cfg.model.architecture.backbone.init_cfg = None
    return cfg


def build(model_cfg):
    """Build in the mmdet scope, as the Runner of an mmdet config does."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(model_cfg)
        model.init_weights()
    return model


def det_sample(height, width):
    """A DetDataSample with two boxes and their rectangle masks."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(height, width),
            ori_shape=(height, width),
            scale_factor=(1.0, 1.0)))
    boxes = [[10, 20, 100, 120], [150, 30, 290, 170]]  # x1, y1, x2, y2
    masks = torch.zeros(2, height, width, dtype=torch.uint8)
    for mask, (x1, y1, x2, y2) in zip(masks, boxes):
        mask[y1:y2, x1:x2] = 1
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32),
        labels=torch.tensor([0, 2]),
        masks=BitmapMasks(masks.numpy(), height, width))
    return sample


def count_calls(modules):
    """Count forward calls of each module with a forward pre-hook."""
    calls = {name: 0 for name in modules}

    def counter(name):

        def hook(module, args):
            calls[name] += 1

        return hook

    for name, module in modules.items():
        module.register_forward_pre_hook(counter(name))
    return calls


def test_config_layout():
    cfg = Config.fromfile(osp.join(REPO_ROOT, CONFIG))
    model = cfg.model
    assert model.type == 'vitkd_mm.SingleTeacherDistill'
    assert model.teacher_ckpt == 'checkpoints/mask-rcnn_deit-s_sfp_1x_coco.pth'
    # the student is the DeiT-T ViTKD detector, started from the ImageNet
    # ViTKD student; the teacher is its DeiT-S twin
    student = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/mask_rcnn',
                 'mask-rcnn_deit-t-vitkd_sfp_1x_coco.py')).model
    assert model.architecture == student
    teacher = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/mask_rcnn',
                 'mask-rcnn_deit-s_sfp_1x_coco.py')).model
    teacher.backbone.init_cfg = None  # all its weights come from the ckpt
    assert model.teacher == teacher
    # no top-level data_preprocessor the Runner would merge into the model
    assert 'data_preprocessor' not in cfg
    assert cfg.default_scope == 'mmdet'
    assert cfg.custom_imports.imports == ['vitkd_mm']
    # the ImageNet preset, its grids read per batch from the patch
    # embeddings, the paper's weights
    assert model.distiller == dict(
        type='ViTKDDistiller', mimic_weight=3e-5, generation_weight=3e-6)


def test_one_train_step_on_a_non_square_batch():
    torch.manual_seed(0)
    cfg = load_cfg()
    model = build(cfg.model)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    student, teacher = model.architecture, model.teacher
    # one preprocessor, mmdet's, shared by both networks
    assert model.data_preprocessor is student.data_preprocessor
    assert type(model.data_preprocessor).__name__ == 'DetDataPreprocessor'

    grids, backbone_inputs = [], {}
    model.distiller.connectors.generation.register_forward_pre_hook(
        lambda _, args, kwargs: grids.append(kwargs['hw_shape']),
        with_kwargs=True)
    for name, net in (('student', student), ('teacher', teacher)):
        net.backbone.register_forward_pre_hook(
            lambda _, args, name=name: backbone_inputs.setdefault(
                name, args[0]))
    calls = count_calls(
        dict(
            backbone=teacher.backbone,
            neck=teacher.neck,
            rpn_head=teacher.rpn_head,
            roi_head=teacher.roi_head))

    named = dict(model.named_parameters())
    watched = ('distiller.connectors.mimic0.proj.weight',
               'distiller.connectors.generation.mask_token',
               'teacher.backbone.layers.0.ffn.layers.0.0.weight')
    before = {name: named[name].detach().clone() for name in watched}

    # two images, padded to a multiple of 32: 192 x 320, a 12 x 20 grid
    batch = dict(
        inputs=[
            torch.randint(0, 256, (3, 192, 320), dtype=torch.uint8),
            torch.randint(0, 256, (3, 180, 300), dtype=torch.uint8)
        ],
        data_samples=[det_sample(192, 320),
                      det_sample(180, 300)])
    log = model.train_step(batch, optim_wrapper)

    assert set(log) == {'loss', 'student.acc'} | {
        f'student.{key}'
        for key in STUDENT_LOSSES
    } | {f'distill.{key}'
         for key in DISTILL_LOSSES + ALIGNMENT_METRICS}
    assert all(torch.isfinite(value) for value in log.values())
    assert all(log[f'distill.{key}'] > 0 for key in DISTILL_LOSSES)
    assert grids == [(12, 20)]
    losses = model.distiller.distill_losses
    assert [losses[name].loss_weight
            for name in DISTILL_LOSSES] == [3e-5, 3e-5, 3e-6]
    assert model.distiller.connectors.mimic0.proj.in_features == 192
    assert model.distiller.connectors.generation.teacher_dims == 384
    assert backbone_inputs['student'].shape == (2, 3, 192, 320)
    torch.testing.assert_close(backbone_inputs['teacher'],
                               backbone_inputs['student'])
    # the teacher stopped after its backbone, in eval mode, frozen
    assert calls == dict(backbone=1, neck=0, rpn_head=0, roi_head=0)
    assert not teacher.training and student.training
    # the distiller's parameters were trained with the student
    changed = {
        name: not torch.equal(before[name], named[name])
        for name in watched
    }
    assert changed == dict(zip(watched, (True, True, False)))

    # the optimizer: student and distiller, ViTDet's decay rules on the
    # algorithm's parameter names, no teacher parameter
    groups = {
        id(p): group
        for group in optim_wrapper.optimizer.param_groups
        for p in group['params']
    }
    assert all(id(p) not in groups for p in teacher.parameters())
    assert all(
        id(p) in groups for name, p in named.items()
        if name.startswith(('architecture.', 'distiller.')))
    for name in ('architecture.backbone.pos_embed',
                 'architecture.backbone.cls_token',
                 'architecture.backbone.ln1.weight'):
        assert groups[id(named[name])]['weight_decay'] == 0.0, name
    for name in ('architecture.backbone.layers.0.ffn.layers.0.0.weight',
                 'distiller.connectors.generation.proj.weight'):
        assert groups[id(named[name])]['weight_decay'] == 0.1, name


# --------------------------------------------------------------------------
# End to end: mim train on tiny COCO-format data
# --------------------------------------------------------------------------
def test_mim_train_distills_on_tiny_coco(tmp_path):
    data_root = str(tmp_path / 'coco')
    make_synthetic(data_root, num_train=2, num_val=1)
    # the ImageNet ViTKD student, exported, starts the student backbone
    student_ckpt = convert_to_student(
        make_distill_checkpoint(str(tmp_path / 'imagenet_epoch_1.pth')),
        str(tmp_path / 'deit-t_vitkd_student.pth'))
    # a "fine-tuned" DeiT-S Mask R-CNN: a built detector, seeded
    torch.manual_seed(1)
    teacher_ckpt = str(tmp_path / 'mask-rcnn_deit-s_sfp_1x_coco.pth')
    teacher_state = build(load_cfg().model.teacher).state_dict()
    torch.save(dict(state_dict=teacher_state), teacher_ckpt)

    work_dir = str(tmp_path / 'train')
    options = [
        option for option in tiny_data_options(data_root)
        if option.startswith(('train_', 'val_'))
    ]
    # an untrained head scores every class about 1/81, under 0.05
    options.append('model.architecture.test_cfg.rcnn.score_thr=0.0')
    run_mim('train', 'mmdet', CONFIG, '--gpus', '0', '--work-dir', work_dir,
            '--cfg-options', *options, 'train_cfg.max_epochs=1',
            'train_dataloader.batch_size=1', 'default_hooks.logger.interval=1',
            f'model.teacher_ckpt={teacher_ckpt}',
            f'model.architecture.backbone.init_cfg.checkpoint={student_ckpt}')
    log, records = read_run(work_dir)

    losses = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in losses] == [1, 2]
    for record in losses:
        for key in [f'distill.{k}' for k in DISTILL_LOSSES
                    ] + [f'student.{k}' for k in STUDENT_LOSSES]:
            assert math.isfinite(record[key]), (key, record)
        assert record['distill.loss_gen'] > 0
    # every teacher weight came from teacher_ckpt, the student backbone from
    # the ImageNet student
    # (strictly: any missing or unexpected key would have been an error)
    assert (f'Loaded teacher_ckpt {teacher_ckpt}: {len(teacher_state)} keys '
            'loaded\n') in log
    assert f'load backbone. in model from: {student_ckpt}' in log
    assert 'missing keys in source' not in log
    # validation runs the student alone and gets COCO metrics
    metrics = records[-1]
    for name in ('coco/bbox_mAP', 'coco/segm_mAP'):
        assert 0.0 <= metrics[name] <= 1.0, (name, metrics)

    # the exported student loads strictly into the plain DeiT-T Mask R-CNN
    student = torch.load(osp.join(work_dir, 'student.pth'))['state_dict']
    build(load_cfg().model.architecture).load_state_dict(student, strict=True)
