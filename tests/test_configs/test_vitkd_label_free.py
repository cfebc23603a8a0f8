"""The label-free configs: ViTKD pretraining on images without labels
(reading no label anywhere) and the fine-tunes that load its export
strictly; both under `mim train`."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from tests.utils import REPO_ROOT
from tests.utils import adamw_train_step as step
from tests.utils import fake_batch, unlabelled
from vitkd_mm.registry import MODELS
from vitkd_mm.utils import student_checkpoint

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')

PRETRAIN = 'deit-t_vitkd-pretrain_dinov2-s'

FINETUNES = {
    # config: where the student sits in the model
    'deit-t_finetune_from-vitkd-pretrain': '',
    'deit-t_vitkd-nkd_finetune_from-vitkd-pretrain': 'architecture',
}


def load_cfg(name):
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'vitkd', f'{name}.py'))
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = None  # no download in tests
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return cfg


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
