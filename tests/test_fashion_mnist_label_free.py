"""The Fashion-MNIST kit's label-free mode: the 1k/50k split, its configs,
a pretraining run whose export the fine-tune loads, and the kit's plan."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from dataset_converters import prepare_fashion_mnist as prep
from dataset_converters import split_fashion_mnist_label_free as split
from fashion_mnist import arms
from fashion_mnist import plan as kit_plan
from fashion_mnist import report, runs
from mmengine.config import Config

from tests.test_fashion_mnist import build_model, fashion_batch, write_idx_gz
from tests.test_label_free import LabelTrap

CONFIG_DIR = arms.CONFIG_DIR
PRETRAIN = arms.PRETRAININGS['label-free-vitkd']
SHIPPED_TEACHER = arms.TEACHERS['teacher'].shipped


@pytest.fixture
def split_root(tmp_path):
    """Prepared fake Fashion-MNIST: 30 training images, but labels for the
    first 20 only (the "labelled subset"), split with 2 per class."""
    src = tmp_path / 'src'
    src.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    labels = np.arange(20, dtype=np.uint8) % 4
    write_idx_gz(src / 'train-images-idx3-ubyte.gz', images)
    write_idx_gz(src / 'train-labels-idx1-ubyte.gz', labels)
    for name in ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'):
        write_idx_gz(src / f'{name}.gz',
                     (images if 'images' in name else labels)[:4])
    data_root = str(tmp_path / 'fashion_mnist')
    prep.prepare(str(src), data_root, {name: None for name in prep.SHAPES})
    out = osp.join(data_root, 'label_free')
    record = split.split(data_root, out, subset=20, per_class=2)
    return out, images, labels, record


def test_split_reads_no_label_of_the_unlabelled_images(split_root):
    """The label file holds labels for the subset only, yet the split
    writes every image after it: their labels are never read. The
    labelled folders hold a per-class draw from the subset."""
    import cv2
    out, images, labels, record = split_root
    assert (record['labelled'], record['unlabelled']) == (8, 10)
    names = sorted(os.listdir(osp.join(out, 'unlabelled')))
    assert names == sorted(f'{i}.png' for i in range(20, 30))
    for name in names:
        image = cv2.imread(osp.join(out, 'unlabelled', name), 0)
        assert np.array_equal(image, images[int(name[:-4])])
    for label in range(4):
        drawn = os.listdir(osp.join(out, 'labelled_1k', str(label)))
        assert len(drawn) == 2
        assert all(labels[int(name[:-4])] == label for name in drawn)
    # a second call finds the record and writes nothing
    os.remove(osp.join(out, 'unlabelled', '20.png'))
    assert split.split(osp.dirname(out), out, subset=20, per_class=2) == \
        record
    assert not osp.exists(osp.join(out, 'unlabelled', '20.png'))


def test_split_refuses_a_label_file_shorter_than_the_subset(split_root):
    out, *_ = split_root
    with pytest.raises(ValueError, match='holds 20 labels, not 25'):
        split.split(osp.dirname(out), out + '_2', subset=25, per_class=2)


def test_custom_dataset_reads_the_split_as_the_configs_do(split_root):
    """mmpretrain's CustomDataset with the configs' pipeline: no gt_label
    on the unlabelled folder, the folder's class on the labelled one."""
    from mmpretrain.datasets import CustomDataset
    out, images, labels, _ = split_root
    base = Config.fromfile(
        osp.join(CONFIG_DIR, '_base_', 'fashion-mnist_label-free.py'))
    pipeline = [base.image_train_pipeline[0], dict(type='PackInputs')]
    unlabelled = CustomDataset(
        data_root=out,
        data_prefix='unlabelled',
        with_label=False,
        pipeline=pipeline)
    sample = unlabelled[0]['data_samples']
    assert 'gt_label' not in sample and len(unlabelled) == 10
    assert unlabelled[0]['inputs'].shape == (1, 28, 28)
    labelled = CustomDataset(
        data_root=out, data_prefix='labelled_1k', pipeline=pipeline)
    for item in labelled:
        index = int(osp.basename(item['data_samples'].img_path)[:-4])
        assert int(item['data_samples'].gt_label) == labels[index]
        assert np.array_equal(item['inputs'][0].numpy(), images[index])


@pytest.mark.parametrize('arm', arms.LABEL_FREE_ARMS)
def test_label_free_arm_configs_build_and_train_one_step(arm):
    """The 1k arms train on the labelled folder, validate every 10 epochs;
    the pretrained ones start from StrictPretrained."""
    spec = arms.ARMS[arm]
    cfg = Config.fromfile(osp.join(CONFIG_DIR, spec.config))
    dataset = cfg.train_dataloader.dataset
    assert (dataset.type, dataset.data_prefix) == ('CustomDataset',
                                                   'labelled_1k')
    assert cfg.train_cfg.val_interval == 10
    student = cfg.model.get('architecture', cfg.model)
    if spec.pretraining is None:
        assert student.init_cfg[0].type == 'TruncNormal'
        _, model = build_model(osp.join(CONFIG_DIR, spec.config))
        losses = model(
            **model.data_preprocessor(fashion_batch(), True), mode='loss')
        assert all(torch.isfinite(v) for v in losses.values())
    else:
        assert student.init_cfg.type == 'vitkd_mm.StrictPretrained'
        assert '{pretrained}' in spec.cfg_options[0]


def pretrain_cfg(tmp_path, data_root):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, PRETRAIN.config))
    cfg.work_dir = str(tmp_path / 'pretrain')
    cfg.train_dataloader.update(
        batch_size=4, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_cfg.max_epochs = 1
    cfg.model.teacher_ckpt = SHIPPED_TEACHER
    return cfg


def test_pretraining_run_exports_what_the_finetunes_load(split_root, tmp_path):
    """The kit's pretraining config trains one epoch on the unlabelled
    folder with mmengine's Runner (no label anywhere: the algorithm would
    refuse its student loss, and it has none); the student.pth it exports
    fills both fine-tune configs' backbones key for key."""
    from mmengine.runner import Runner
    out, *_ = split_root
    cfg = pretrain_cfg(tmp_path, out)
    assert cfg.model.calculate_student_loss is False
    assert cfg.model.architecture.head is None
    runner = Runner.from_cfg(cfg)
    runner.train()
    exported = torch.load(osp.join(cfg.work_dir, 'student.pth'))['state_dict']
    assert exported and all(k.startswith('backbone.') for k in exported)
    trained = runner.model.architecture.backbone.state_dict()
    for arm in ('label-free-vitkd_1k', 'label-free-vitkd_vitkd-nkd_1k'):
        spec = arms.ARMS[arm]
        option = spec.cfg_options[0].format(
            pretrained=osp.join(cfg.work_dir, 'student.pth'))
        key, path = option.split('=')
        config = Config.fromfile(osp.join(CONFIG_DIR, spec.config))
        config.merge_from_dict({key: path})
        config.dump(str(tmp_path / f'{arm}.py'))
        _, model = build_model(str(tmp_path / f'{arm}.py'))
        model.init_weights()
        student = getattr(model, 'architecture', model)
        for name, value in trained.items():
            assert torch.equal(student.backbone.state_dict()[name],
                               value), (arm, name)


def test_pretraining_step_passes_a_sample_whose_label_raises():
    """No module on the pretraining path reads a label."""
    _, model = build_model(osp.join(CONFIG_DIR, PRETRAIN.config))
    batch = fashion_batch()
    batch['data_samples'] = [LabelTrap() for _ in batch['data_samples']]
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    assert {k
            for k in losses if 'loss' in k} == {
                'distill.loss_mimic_0', 'distill.loss_mimic_1',
                'distill.loss_gen'
            }


def test_plan_runs_each_pretraining_once_per_seed_before_its_arms(monkeypatch):
    """Pretrainings are planned per seed with their own epochs; an arm
    that names one gets its export of the same seed."""
    plan = {
        'student_1k': [0],
        'label-free-vitkd_1k': [0, 1],
        'label-free-vitkd_vitkd-nkd_1k': [1]
    }
    teachers = dict(teacher=dict(checkpoint='t.pth'))
    pretrain_jobs, jobs = kit_plan.plan_jobs(plan, 'root/lf_80e', 80, teachers,
                                             [])
    assert [(j.arm, j.seed, j.work_dir) for j in pretrain_jobs] == [
        ('pretrain_label-free-vitkd', seed,
         osp.join('root/lf_80e', 'pretrain_label-free-vitkd', f'seed{seed}'))
        for seed in (0, 1)
    ]
    assert pretrain_jobs[0].options == [
        f'train_cfg.max_epochs={PRETRAIN.epochs}', 'model.teacher_ckpt=t.pth'
    ]
    assert [j.name for j in jobs] == [
        '[3/6] student_1k seed 0', '[4/6] label-free-vitkd_1k seed 0',
        '[5/6] label-free-vitkd_1k seed 1',
        '[6/6] label-free-vitkd_vitkd-nkd_1k seed 1'
    ]

    calls = []

    def fake_pretrain(name, config, work_dir, seed, options, python, env):
        calls.append(('pretrain', seed))
        return dict(student=f'{work_dir}/student.pth', seed=seed)

    def fake_train(name, config, work_dir, seed, options, python, env):
        calls.append(('train', name))
        return dict(options=options, seed=seed)

    monkeypatch.setattr(runs, 'pretrain', fake_pretrain)
    monkeypatch.setattr(runs, 'train', fake_train)
    results, pretrainings = kit_plan.train_all(pretrain_jobs, jobs, 1, 'py',
                                               {})
    assert calls[:2] == [('pretrain', 0), ('pretrain', 1)]
    assert [r['seed']
            for r in pretrainings['pretrain_label-free-vitkd']] == [0, 1]
    seed1 = results['label-free-vitkd_vitkd-nkd_1k'][0]['options']
    assert seed1[-1] == ('model.architecture.init_cfg.checkpoint=root/lf_80e/'
                         'pretrain_label-free-vitkd/seed1/student.pth')
    assert results['student_1k'][0]['options'] == ['train_cfg.max_epochs=80']


def test_report_names_the_data_and_the_pretraining():
    run = dict(
        seed=0,
        command='python tools/train.py x.py',
        final_loss=1.25,
        wall_s=60,
        cpu_s=120)
    record = dict(
        mode='label-free',
        epochs=80,
        teachers={},
        data=arms.MODES['label-free'].data,
        pretrainings={'pretrain_label-free-vitkd': [run,
                                                    dict(run, seed=1)]})
    result = dict(seed=0, top1=50.0, sec_per_iter=0.1, cpu_s=10, curve=[])
    results = {'student_1k': [result]}
    text = report.markdown('x', record, report.summarize(results), results)
    assert 'trained on the 1,000 labelled images (100 per class' in text
    assert ('Label-free pretraining `pretrain_label-free-vitkd`: ViTKD '
            '(mimic blocks 0, 1 + generate deep) on the 50,000 unlabelled '
            'training images') in text
    assert ('one per seed (0, 1), e.g. `python tools/train.py x.py`; final '
            'loss 1.250, 1.250; 2.0 min wall, 4.0 CPU-min in total.') in text
