"""Distillation without labels: the pretraining and fine-tune configs, a
batch whose data samples carry no label, refusals naming the key that would
read one, and the strict ``StrictPretrained`` initializer."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from tests.test_safe_load import SystemPayload
from tests.utils import REPO_ROOT, fake_batch, tiny_distill_cfg
from vitkd_mm.models.algorithms.single_teacher_distill import is_labelled
from vitkd_mm.registry import MODELS
from vitkd_mm.utils import UnsafeCheckpointError, student_checkpoint

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')

PRETRAIN = 'deit-t_vitkd-pretrain_dinov2-s'
FINETUNES = {
    # config: where the student sits in the model
    'deit-t_finetune_from-vitkd-pretrain': '',
    'deit-t_vitkd-nkd_finetune_from-vitkd-pretrain': 'architecture',
}


class LabelTrap(DataSample):
    """A data sample without labels whose label fields raise when read."""

    @property
    def gt_label(self):
        raise AssertionError('gt_label was read')

    @property
    def gt_score(self):
        raise AssertionError('gt_score was read')


def load_cfg(name):
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'vitkd', f'{name}.py'))
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = None  # no download in tests
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return cfg


def unlabelled(batch, trap=True):
    """``batch`` with its data samples replaced by label-free ones."""
    sample = LabelTrap if trap else DataSample
    return dict(
        inputs=batch['inputs'],
        data_samples=[sample() for _ in batch['data_samples']])


def step(model, batch):
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    model.train()
    return model.train_step(batch, optim)


def test_is_labelled_reads_field_names_only():
    assert is_labelled([DataSample().set_gt_label(1)])
    assert is_labelled([DataSample().set_gt_score(torch.ones(3))])
    assert not is_labelled([LabelTrap(), LabelTrap()])
    assert not is_labelled([DataSample().set_gt_label(1), DataSample()])
    assert not is_labelled(None)


def test_pretrain_config_trains_on_images_without_labels():
    """DeiT-T <- DINOv2-S (real architectures, random weights): the config
    reads no label anywhere, and one step on data samples whose label
    fields raise when read trains every student parameter on the ViTKD
    feature terms alone."""
    cfg = load_cfg(PRETRAIN)
    dataset = cfg.train_dataloader.dataset
    assert (dataset.type, dataset.with_label) == ('CustomDataset', False)
    assert cfg.model.calculate_student_loss is False
    student = cfg.model.architecture
    assert student.head is None and student.train_cfg is None
    assert cfg.val_cfg is None and cfg.val_dataloader is None
    assert 'vitkd_mm.StudentExportHook' in [
        hook.type for hook in cfg.custom_hooks
    ]
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    before = copy.deepcopy(model.architecture.state_dict())
    batch = unlabelled(fake_batch(batch_size=2, size=224))
    log = step(model, batch)
    assert {k
            for k in log if 'loss' in k} == {
                'loss', 'distill.loss_mimic_0', 'distill.loss_mimic_1',
                'distill.loss_gen'
            }
    assert all(torch.isfinite(value) for value in log.values())
    unchanged = [
        key for key, value in model.architecture.state_dict().items()
        if torch.equal(value, before[key])
    ]
    assert unchanged == []  # every student weight got a gradient


@pytest.mark.parametrize('name', list(FINETUNES))
def test_finetune_configs_load_the_pretraining_export_strictly(name, tmp_path):
    """The pretraining's export (as StudentExportHook writes it) fills the
    fine-tune student's backbone key for key; the head starts fresh."""
    torch.manual_seed(0)
    pretrained = MODELS.build(load_cfg(PRETRAIN).model.architecture)
    pretrained.init_weights()
    exported = student_checkpoint({
        'state_dict': {
            f'architecture.{key}': value
            for key, value in pretrained.state_dict().items()
        }
    })
    path = str(tmp_path / 'student.pth')
    torch.save(exported, path)
    assert all(key.startswith('backbone.') for key in exported['state_dict'])

    cfg = load_cfg(name)
    where = cfg.model[FINETUNES[name]] if FINETUNES[name] else cfg.model
    assert where.init_cfg.type == 'vitkd_mm.StrictPretrained'
    where.init_cfg.checkpoint = path
    torch.manual_seed(1)
    model = MODELS.build(cfg.model)
    model.init_weights()
    student = model.architecture if FINETUNES[name] else model
    for key, value in pretrained.backbone.state_dict().items():
        assert torch.equal(student.backbone.state_dict()[key], value), key
    head = student.head.layers.head
    assert head.weight.abs().sum() == 0  # mmpretrain's fresh (zero) head


@pytest.mark.parametrize('changes, key', [
    (dict(), 'model.calculate_student_loss=True'),
    (dict(calculate_student_loss=False,
          teacher_trainable=True), 'model.teacher_trainable=True'),
])
def test_label_readers_on_unlabelled_batch_are_refused(changes, key):
    cfg = tiny_distill_cfg()
    cfg.update(changes)
    model = MODELS.build(cfg)
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match='This batch has no labels') as info:
        step(model, unlabelled(fake_batch()))
    assert key in str(info.value)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_batch_augments_on_unlabelled_batch_are_refused():
    """mmpretrain skips Mixup/CutMix on a batch without labels: silently
    mixing nothing is refused, naming the key."""

    def build(train_cfg):
        cfg = tiny_distill_cfg()
        cfg.calculate_student_loss = False
        cfg.architecture.head = None
        cfg.architecture.train_cfg = train_cfg
        return MODELS.build(cfg)

    model = build(dict(augments=[dict(type='Mixup', alpha=1.)]))
    with pytest.raises(ValueError, match=r'architecture\.train_cfg\.augments'):
        step(model, unlabelled(fake_batch()))
    log = step(build(None), unlabelled(fake_batch()))
    assert set(log) == {'loss', 'distill.loss_mimic', 'distill.cos_mimic'}


def test_unread_student_head_is_a_warning(logs):
    """Without the student's loss, a head no term reads gets no gradient."""
    cfg = tiny_distill_cfg()
    cfg.calculate_student_loss = False
    MODELS.build(copy.deepcopy(cfg))
    assert any('set model.architecture.head=None' in m for m in logs)
    logs.clear()
    cfg.architecture.head = None
    MODELS.build(cfg)
    assert not any('architecture.head' in m for m in logs)


# --- StrictPretrained --------------------------------------------------


def tiny_classifier(init_cfg=None, embed_dims=16):
    cfg = copy.deepcopy(tiny_distill_cfg().architecture)
    cfg.backbone.arch.embed_dims = embed_dims
    cfg.head.in_channels = embed_dims
    cfg.init_cfg = init_cfg
    return MODELS.build(cfg)


def saved_backbone(tmp_path, state=None, wrap=True):
    torch.manual_seed(0)
    source = tiny_classifier()
    source.init_weights()
    state = state or {
        f'backbone.{k}': v
        for k, v in source.backbone.state_dict().items()
    }
    path = str(tmp_path / 'export.pth')
    torch.save(dict(state_dict=state) if wrap else state, path)
    return source, path


def strict(path, prefix='backbone.'):
    return dict(
        type='vitkd_mm.StrictPretrained', checkpoint=path, prefix=prefix)


@pytest.mark.parametrize('wrap', [True, False])
def test_strict_pretrained_loads_the_part_and_keeps_it(tmp_path, wrap):
    """Every backbone weight, ``pos_embed`` included (mmpretrain's ViT
    redraws it in its own ``init_weights``), comes from the file."""
    source, path = saved_backbone(tmp_path, wrap=wrap)
    torch.manual_seed(1)
    model = tiny_classifier(strict(path))
    model.init_weights()
    for key, value in source.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[key], value), key
    assert model.head.layers.head.weight.abs().sum() == 0


def test_strict_pretrained_refuses_what_does_not_fit(tmp_path):
    source, path = saved_backbone(tmp_path)
    state = {
        f'backbone.{k}': v
        for k, v in source.backbone.state_dict().items()
    }
    del state['backbone.cls_token']
    (tmp_path / 'missing').mkdir()
    _, missing = saved_backbone(tmp_path / 'missing', state)
    cases = [
        (tiny_classifier(strict(path), embed_dims=24), 'shape mismatches'),
        (tiny_classifier(strict(missing)), r'missing keys \(1\): cls_token'),
        (tiny_classifier(strict(path, 'head.')), "no key of the file starts"),
        (tiny_classifier(strict(path, 'neck.')), "has no submodule 'neck'"),
    ]
    for model, match in cases:
        with pytest.raises(ValueError, match=match) as info:
            model.init_weights()
        assert 'init_cfg: StrictPretrained checkpoint=' in str(info.value)
    with pytest.raises(ValueError, match="must end with '.'"):
        tiny_classifier(strict(path, 'backbone')).init_weights()


def test_strict_pretrained_refuses_a_malicious_file(tmp_path):
    marker = tmp_path / 'payload_ran'
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={}, meta=SystemPayload(marker)), path)
    with pytest.raises(UnsafeCheckpointError, match='init_cfg.checkpoint'):
        tiny_classifier(strict(path)).init_weights()
    assert not marker.exists()


def mim_train(config, work_dir, options):
    """``mim train mmpretrain CONFIG`` from the repo root; its log."""
    import subprocess

    from tests.utils import MIM
    schedule = [
        'train_cfg.max_epochs=1', 'param_scheduler.0.end=1',
        'param_scheduler.1.begin=0', 'default_hooks.logger.interval=1'
    ]
    result = subprocess.run([
        MIM, 'train', 'mmpretrain', config, '--work-dir',
        str(work_dir), '--cfg-options', *schedule, *options
    ],
                            cwd=REPO_ROOT,
                            capture_output=True,
                            text=True)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    return log


def test_mim_pretrains_without_labels_then_fine_tunes(tmp_path):
    """`mim train` of both configs, unchanged but for data paths, a short
    schedule and no teacher download: the pretraining trains on an image
    folder without labels and exports the backbone; the fine-tune loads
    it strictly and trains with labels."""
    from tests.utils import make_image_folder
    root = tmp_path / 'imagenet'
    make_image_folder(str(root / 'train'), num_classes=2, per_class=2, size=64)
    (root / 'meta').mkdir()
    (root / 'meta' / 'train.txt').write_text('\n'.join(
        f'class_{label}/img_{j}.png {label}' for label in range(2)
        for j in range(2)))
    loader = [
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'train_dataloader.dataset.data_root={root}'
    ]
    pretrain_dir = tmp_path / 'pretrain'
    log = mim_train(f'configs/vitkd/{PRETRAIN}.py', pretrain_dir,
                    [*loader, 'model.teacher_ckpt=None'])
    assert 'student.loss' not in log and 'distill.loss_gen: ' in log
    export = pretrain_dir / 'student.pth'
    assert export.exists()

    log = mim_train(
        'configs/vitkd/deit-t_finetune_from-vitkd-pretrain.py',
        tmp_path / 'finetune', [
            *loader, 'train_dataloader.dataset.ann_file='
            'meta/train.txt', f'model.init_cfg.checkpoint={export}',
            'val_dataloader=None', 'val_evaluator=None', 'val_cfg=None'
        ])
    # DeiT-T: 12 blocks x 12 tensors (2 LayerNorms, qkv, proj, 2 FFN
    # layers: weight and bias each), cls token, position embedding, patch
    # embedding (weight, bias), final LayerNorm (weight, bias)
    assert f'StrictPretrained: loaded {12 * 12 + 6} keys of {export}' in log
    assert 'loss: ' in log
