"""Issue 18, the second reliability probe: each finding as a test."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from tests.utils import (REPO_ROOT, fake_batch, tiny_distill_cfg,
                         tiny_runner_cfg)
from vitkd_mm.models import NKDLoss
from vitkd_mm.registry import MODELS
from vitkd_mm.utils import safe_torch_load, student_checkpoint

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')

FASHION_SCHEDULE = osp.join(REPO_ROOT, 'configs', 'vitkd', 'fashion-mnist',
                            '_base_', 'schedule_adamw.py')


def vitkd_cfg(**distiller):
    """The tiny ViTs of tests/configs/tiny_vit_distill.py under the preset."""
    cfg = tiny_distill_cfg()
    cfg.distiller = dict(type='ViTKDDistiller', **distiller)
    return cfg


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


# ------------------------------ 1. NKD reads what a DeiT head predicts
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


# ------------------------------------- 2. a distiller with no term at all
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


# --------------------- 6. and the lower-priority ones: build errors by key
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


# --------------- 7. labels NKD reads need the student's loss computation
def test_nkd_without_the_student_loss_names_calculate_student_loss():
    cfg = vitkd_cfg(nkd=dict(gamma=1.0))
    cfg.calculate_student_loss = False
    with pytest.raises(
            ValueError,
            match=r"calculate_student_loss=False runs the student in tensor "
            r"mode, which never calls 'head.loss_module', so "
            r'distiller.student_recorders.gt_labels would record nothing'):
        MODELS.build(cfg)


# ------------------------------------ 3, 4. the export hook, end to end
@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """One epoch of the tiny config, exporting to a folder that does not
    exist yet."""
    tmp_path = tmp_path_factory.mktemp('export')
    cfg = tiny_runner_cfg(tmp_path)
    cfg.train_cfg.max_epochs = 1
    cfg.custom_hooks[0].filename = 'export/student.pth'
    runner = Runner.from_cfg(cfg)
    runner.train()
    return dict(
        cfg=cfg,
        runner=runner,
        student=osp.join(cfg.work_dir, 'export', 'student.pth'),
        epoch=osp.join(cfg.work_dir, 'epoch_1.pth'))


def test_export_hook_creates_the_folder_of_its_file(exported):
    student = safe_torch_load(exported['student'])
    assert student['meta']['epoch'] == 1
    assert list(student['state_dict']) == list(
        exported['runner'].model.architecture.state_dict())


def test_exports_keep_what_inference_reads(exported):
    from mmpretrain.apis import get_model
    classes = ('class_0', 'class_1', 'class_2')
    epoch_meta = safe_torch_load(exported['epoch'])['meta']
    assert epoch_meta['dataset_meta'] == dict(classes=classes)
    hook_meta = safe_torch_load(exported['student'])['meta']
    converted_meta = student_checkpoint(safe_torch_load(
        exported['epoch']))['meta']
    for meta in (hook_meta, converted_meta):
        assert meta['dataset_meta'] == epoch_meta['dataset_meta']
        assert meta['experiment_name'] == epoch_meta['experiment_name']
        assert meta['seed'] == epoch_meta['seed']
    student_cfg = Config(
        dict(model=exported['cfg'].model.architecture.to_dict()))
    model = get_model(student_cfg, pretrained=exported['student'])
    assert model._dataset_meta['classes'] == classes


@pytest.mark.parametrize('blocked', ['parent_is_a_file', 'path_is_a_folder'])
def test_export_hook_refuses_an_unwritable_path_before_training(
        tmp_path, blocked):
    cfg = tiny_runner_cfg(tmp_path)
    work_dir = tmp_path / 'work_dir'
    work_dir.mkdir()
    if blocked == 'parent_is_a_file':
        (work_dir / 'export').write_text('a file')
        filename, message = 'export/student.pth', 'cannot create the folder'
    else:
        (work_dir / 'student.pth').mkdir()
        filename, message = 'student.pth', 'is the folder'
    cfg.custom_hooks[0].filename = filename
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match=f'StudentExportHook: .*{message}'):
        runner.train()
    assert runner.iter == 0 and not (work_dir / 'epoch_1.pth').exists()


# ---------------------- 10. the export hook without a distillation model
def test_export_hook_refuses_a_model_without_a_student_before_training(
        tmp_path):
    cfg = tiny_runner_cfg(tmp_path)
    cfg.model = cfg.model.architecture
    cfg.custom_hooks = [dict(type='vitkd_mm.StudentExportHook')]
    runner = Runner.from_cfg(cfg)
    with pytest.raises(
            ValueError,
            match=r'StudentExportHook exports the student of a distillation '
            r'model, but the model \(ImageClassifier\) has no '
            r'architecture.\* weights'):
        runner.train()
    assert runner.iter == 0


# -------------------------------- 8. --resume after changing the distiller
def resume_cfg(exported, tmp_path):
    cfg = tiny_runner_cfg(tmp_path)
    cfg.train_cfg.max_epochs = 2
    cfg.resume, cfg.load_from = True, exported['epoch']
    return cfg


def test_resume_after_a_distiller_change_says_what_changed(exported, tmp_path):
    cfg = resume_cfg(exported, tmp_path)
    distiller = cfg.model.distiller
    distiller.student_recorders.block1 = dict(
        type='ModuleOutputs', source='backbone.layers.1')
    distiller.teacher_recorders.block1 = dict(
        type='ModuleOutputs', source='backbone.layers.1')
    distiller.connectors.proj1 = dict(
        type='MimicConnector', student_dims=16, teacher_dims=24)
    distiller.distill_losses.loss_mimic1 = dict(type='MimicLoss')
    distiller.loss_forward_mappings.loss_mimic1 = dict(
        preds_S=dict(from_student=True, recorder='block1', connector='proj1'),
        preds_T=dict(
            from_student=False, recorder='block1', connector='tokens'))
    runner = Runner.from_cfg(cfg)
    with pytest.raises(
            ValueError,
            match=r"resume: the config's distiller differs from the one the "
            r'checkpoint was trained with \(added distiller.connectors.proj1'
            r'.proj\).*Resume with the original config, or start a new run '
            r'from these weights with load_from'):
        runner.train()


def test_resume_after_changes_without_weights_continues(exported, tmp_path):
    """held: resuming with another teacher_precision and loss weight."""
    cfg = resume_cfg(exported, tmp_path)
    cfg.model.teacher_precision = 'bf16'
    cfg.model.distiller.distill_losses.loss_mimic.loss_weight = 1e-2
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.epoch == 2 and runner.iter == 6


# -------------- 11. Fashion-MNIST schedules take any positive max_epochs
@pytest.mark.parametrize('max_epochs', [1, 2])
def test_fashion_mnist_schedule_trains_any_positive_max_epochs(
        tmp_path, max_epochs):
    cfg = tiny_runner_cfg(tmp_path)
    cfg.param_scheduler = Config.fromfile(FASHION_SCHEDULE).param_scheduler
    cfg.train_cfg.max_epochs = max_epochs
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    runner = Runner.from_cfg(cfg)
    runner.train()
    lr = runner.optim_wrapper.param_groups[0]['lr']
    if max_epochs == 1:  # the warm-up alone: it ends at the base lr
        assert lr == pytest.approx(1e-3)
    else:  # then the cosine over 3 iterations, the last at step 2 of 3
        cosine = 1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi * 2 / 3)) / 2
        assert lr == pytest.approx(cosine)


def test_fashion_mnist_cosine_is_mmengines_after_the_warm_up():
    from mmengine.registry import PARAM_SCHEDULERS
    cosine = Config.fromfile(FASHION_SCHEDULE).param_scheduler[1]
    lrs = {}
    for name in ('vitkd_mm.CosineAfterWarmupLR', 'CosineAnnealingLR'):
        optimizer = torch.optim.SGD([torch.zeros(1)], lr=1.0)
        scheduler = PARAM_SCHEDULERS.build(
            dict(cosine, type=name, end=4),
            default_args=dict(optimizer=optimizer, epoch_length=3))
        lrs[name] = []
        for _ in range(12):
            optimizer.step()
            scheduler.step()
            lrs[name].append(optimizer.param_groups[0]['lr'])
    assert lrs['vitkd_mm.CosineAfterWarmupLR'] == lrs['CosineAnnealingLR']


# ------------------------------------------ held: batches a probe tried
def held_batch(kind):
    if kind == 'mixup_cutmix_batch_of_1':
        return fake_batch(batch_size=1)
    batch = fake_batch(batch_size=2)
    if kind == 'constant_images':
        batch['inputs'] = [torch.full_like(x, 7) for x in batch['inputs']]
    elif kind == '30px_images':
        batch['inputs'] = [x[:, :30, :30] for x in batch['inputs']]
    elif kind == 'mixed_sizes_padded':
        batch['inputs'] = [batch['inputs'][0][:, :30, :28], batch['inputs'][1]]
    return batch


@pytest.mark.parametrize('kind', [
    'mixup_cutmix_batch_of_1', 'constant_images', '30px_images',
    'mixed_sizes_padded'
])
def test_held_batches_train_finitely_and_loss_sums_its_terms(kind):
    cfg = vitkd_cfg(nkd=dict(gamma=1.0))
    cfg.architecture.train_cfg = dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ])
    model = MODELS.build(cfg)
    data = model.data_preprocessor(held_batch(kind), True)
    losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    terms = [
        value for key, value in log_vars.items()
        if 'loss' in key and key != 'loss'
    ]
    assert set(log_vars) == {
        'loss', 'student.loss', 'distill.loss_mimic_0', 'distill.loss_mimic_1',
        'distill.loss_gen', 'distill.loss_nkd', 'distill.cos_mimic_0',
        'distill.cos_mimic_1', 'distill.cos_gen_masked',
        'distill.cos_gen_visible', 'distill.agree_top1_nkd'
    }
    assert all(torch.isfinite(value) for value in log_vars.values())
    torch.testing.assert_close(loss.detach(), sum(terms))
    loss.backward()
