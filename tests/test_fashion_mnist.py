"""The Fashion-MNIST kit: data preparation, configs, reproduction helpers."""
import glob
import gzip
import json
import os
import os.path as osp
import struct

import numpy as np
import pytest
import torch
from dataset_converters import prepare_fashion_mnist as prep
from fashion_mnist import arms
from fashion_mnist import plan as kit_plan
from fashion_mnist import report, runs

from tests.utils import REPO_ROOT

CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'vitkd', 'fashion-mnist')
ALL_CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))
#: The label-free mode's configs (tests/test_fashion_mnist_label_free.py).
LABEL_FREE_CONFIGS = {arms.ARMS[arm].config
                      for arm in arms.LABEL_FREE_ARMS} | {
                          stage.config
                          for stage in arms.PRETRAININGS.values()
                      }
CONFIGS = [c for c in ALL_CONFIGS if osp.basename(c) not in LABEL_FREE_CONFIGS]
DEBIAN = prep.DEFAULT_SRC


def write_idx_gz(path, array):
    """Write a uint8 array as a gzipped IDX file (big-endian header)."""
    header = struct.pack('>HBB', 0, 0x08, array.ndim)
    header += struct.pack(f'>{array.ndim}I', *array.shape)
    with gzip.open(path, 'wb') as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_gz(tmp_path):
    """A tiny Fashion-MNIST in the upstream layout: 6 train, 4 test images."""
    src = tmp_path / 'src'
    src.mkdir()
    rng = np.random.default_rng(0)
    data = {}
    for split, n in (('train', 6), ('t10k', 4)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        write_idx_gz(src / f'{split}-images-idx3-ubyte.gz', images)
        write_idx_gz(src / f'{split}-labels-idx1-ubyte.gz', labels)
        data[split] = (images, labels)
    return str(src), data


ANY_SIZE = {name: None for name in prep.SHAPES}


def test_prepare_gives_what_mmpretrain_fashion_mnist_reads(fake_gz, tmp_path):
    from mmpretrain.datasets import FashionMNIST
    src, data = fake_gz
    out = str(tmp_path / 'fashion_mnist')
    written = prep.prepare(src, out, shapes=ANY_SIZE)
    assert sorted(written) == sorted(prep.SHAPES)
    # mmpretrain wants exactly the four decompressed files in data_root.
    assert sorted(os.listdir(out)) == sorted(prep.SHAPES)
    for split, test_mode in (('train', False), ('t10k', True)):
        dataset = FashionMNIST(
            data_root=out,
            split='test' if test_mode else 'train',
            test_mode=test_mode,
            download=False,
            pipeline=[])
        images, labels = data[split]
        assert len(dataset) == len(labels)
        for i in range(len(labels)):
            item = dataset[i]
            np.testing.assert_array_equal(item['img'], images[i])
            assert int(item['gt_label']) == labels[i]
    # A second call keeps the valid files.
    assert prep.prepare(src, out, shapes=ANY_SIZE) == []
    assert prep.is_prepared(out, ANY_SIZE)


def test_prepare_rejects_bad_files(fake_gz, tmp_path):
    src, _ = fake_gz
    # Wrong shape for the full dataset.
    with pytest.raises(ValueError, match='expected shape'):
        prep.prepare(src, str(tmp_path / 'a'))
    # Truncated images.
    path = osp.join(src, 'train-images-idx3-ubyte.gz')
    with gzip.open(path) as f:
        raw = f.read()
    with gzip.open(path, 'wb') as f:
        f.write(raw[:-10])
    with pytest.raises(ValueError, match='bytes, expected'):
        prep.prepare(src, str(tmp_path / 'b'), shapes=ANY_SIZE)
    # Labels out of range.
    write_idx_gz(
        osp.join(src, 'train-labels-idx1-ubyte.gz'), np.array([3, 12],
                                                              np.uint8))
    with pytest.raises(ValueError, match='out of range'):
        prep.prepare(
            src, str(tmp_path / 'c'), shapes={'train-labels-idx1-ubyte': None})
    assert not osp.exists(osp.join(tmp_path, 'c', 'train-labels-idx1-ubyte'))
    # Missing source.
    with pytest.raises(FileNotFoundError, match='dataset-fashion-mnist'):
        prep.prepare(str(tmp_path / 'nowhere'), str(tmp_path / 'd'))
    assert not prep.is_prepared(str(tmp_path / 'd'))


@pytest.mark.skipif(
    not osp.isfile(osp.join(DEBIAN, 'train-images-idx3-ubyte.gz')),
    reason='Debian package dataset-fashion-mnist not installed')
def test_prepare_debian_package(tmp_path):
    from mmpretrain.datasets import FashionMNIST
    out = str(tmp_path / 'fashion_mnist')
    prep.prepare(DEBIAN, out)
    assert prep.is_prepared(out)
    test_set = FashionMNIST(
        data_root=out,
        split='test',
        test_mode=True,
        download=False,
        indices=3,
        pipeline=[])
    assert len(test_set) == 3
    assert test_set[0]['img'].shape == (28, 28)
    # The first three test images of Fashion-MNIST: ankle boot, pullover,
    # trouser.
    assert [int(test_set[i]['gt_label']) for i in range(3)] == [9, 2, 1]
    assert test_set.metainfo['classes'][9] == 'Ankle boot'


def build_model(config):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(config)
    model_cfg = cfg.model
    model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    if 'teacher_ckpt' in model_cfg:
        model_cfg.teacher_ckpt = None
    torch.manual_seed(0)
    return cfg, MODELS.build(model_cfg)


def fashion_batch(batch_size=2):
    from mmpretrain.structures import DataSample
    generator = torch.Generator().manual_seed(0)
    return dict(
        inputs=[
            torch.randint(
                0, 256, (1, 28, 28), generator=generator, dtype=torch.uint8)
            for _ in range(batch_size)
        ],
        data_samples=[DataSample().set_gt_label(i) for i in range(batch_size)])


def test_every_arm_has_a_config():
    names = {osp.basename(c) for c in ALL_CONFIGS}
    assert {
        arm.config
        for arm in arms.ARMS.values()
    } | {
        run.config
        for run in [*arms.TEACHERS.values(), *arms.PRETRAININGS.values()]
    } == names
    # every arm reads a known teacher and pretraining, every mode plans
    # known arms
    assert {arm.teacher
            for arm in arms.ARMS.values()} <= {None, *arms.TEACHERS}
    assert {arm.pretraining
            for arm in arms.ARMS.values()} <= {None, *arms.PRETRAININGS}
    assert all(
        set(mode.plan) <= set(arms.ARMS) for mode in arms.MODES.values())


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_builds_and_trains_one_step(config):
    cfg, model = build_model(config)
    assert cfg.custom_imports.imports == ['vitkd_mm']
    # Same data and recipe for every arm; only the teacher sees all 60k.
    train_set = cfg.train_dataloader.dataset
    assert train_set.type == 'FashionMNIST'
    assert train_set.data_root == 'data/fashion_mnist'
    assert cfg.val_dataloader.dataset.test_mode is True
    is_teacher = osp.basename(config) in {
        teacher.config
        for teacher in arms.TEACHERS.values()
    }
    assert train_set.indices == (None if is_teacher else 10000)
    assert cfg.train_cfg.max_epochs == (10 if is_teacher else 15)

    data = model.data_preprocessor(fashion_batch(), True)
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    if 'distiller' not in cfg.model:
        assert set(losses) == {'loss'}
        return
    # The distiller: a 48-dim student on a 7 x 7 grid, a 96-dim teacher on
    # a 7 x 7 grid, or 4 x 4 with 7 px patches (the grid-mismatch arms).
    assert model.architecture.backbone.embed_dims == 48
    assert model.architecture.backbone.patch_resolution == (7, 7)
    assert model.teacher.backbone.embed_dims == 96
    teacher_grid = (4, 4) if 'teacher-p7' in config else (7, 7)
    assert model.teacher.backbone.patch_resolution == teacher_grid
    expected = {f'distill.{k}' for k in model.distiller.distill_losses}
    assert {k for k in losses if 'loss' in k} == {'student.loss'} | expected
    # one alignment metric per mimic loss, two for the generation, one NKD
    metrics = {k for k in losses if 'loss' not in k}
    assert len(metrics) == sum(
        dict(loss_gen=2).get(k, 1) for k in model.distiller.distill_losses)
    connectors = model.distiller.connectors
    if 'generation' in connectors and 'teacher-p7' not in config:
        assert connectors.generation.patch_resolution == (7, 7)


def test_arms_distil_what_their_names_say():
    """Loss terms and connectors of each arm, from the built models."""

    def distiller(arm):
        return build_model(osp.join(CONFIG_DIR,
                                    arms.ARMS[arm].config))[1].distiller

    def connector_types(distiller):
        return {
            name: type(connector).__name__
            for name, connector in distiller.connectors.items()
        }

    vitkd = distiller('vitkd')
    assert list(
        vitkd.distill_losses) == ['loss_mimic_0', 'loss_mimic_1', 'loss_gen']
    assert vitkd.connectors.generation.generator.__class__.__name__ == (
        'ConvGenerator')
    assert list(distiller('vitkd-nkd').distill_losses) == [
        'loss_mimic_0', 'loss_mimic_1', 'loss_gen', 'loss_nkd'
    ]
    nkd = distiller('nkd')
    assert list(nkd.distill_losses) == ['loss_nkd']
    assert not nkd.connectors
    shallow = distiller('vitkd-shallow-only')
    assert list(shallow.distill_losses) == ['loss_mimic_0', 'loss_mimic_1']
    assert connector_types(shallow) == dict(
        mimic0='MimicConnector',
        mimic1='MimicConnector',
        patch_tokens='TokenGridAlign')
    assert list(distiller('vitkd-deep-only').distill_losses) == ['loss_gen']
    deep_mimic = distiller('vitkd-deep-mimic')
    assert list(deep_mimic.distill_losses) == [
        'loss_mimic_0', 'loss_mimic_1', 'loss_mimic_deep'
    ]
    assert connector_types(deep_mimic)['mimic_deep'] == 'MimicConnector'
    assert 'generation' not in deep_mimic.connectors
    for arm, cross_attn in (('vitkd-gen-self-attn', False),
                            ('vitkd-gen-cross-attn', True)):
        generator = distiller(arm).connectors.generation.generator
        assert generator.cross_attn is cross_attn, arm
        assert generator.attn.num_heads == 4, arm


#: Each distillation arm's model as the configs behind the committed results
#: built it (frozen once from those configs; see its ``_comment``).
REFERENCE_MODELS = osp.join(REPO_ROOT, 'tests', 'data',
                            'fashion_mnist_reference_models.json')
#: The distillation arms behind the committed full-mode results.
DISTILL_CONFIGS = list(
    dict.fromkeys(
        arm.config for arm in arms.ARMS.values()
        if arm.teacher == 'teacher' and arm.config not in LABEL_FREE_CONFIGS))


def grid_kwargs(distiller, spec):
    """The connector keyword arguments of ``spec`` that carry a token grid
    (``hw_shape``/``target_hw``: the patch embedding's second output on
    either side), as ``{name: from_student}``; any other keyword argument
    fails the test."""
    grids = {}
    for name, record in spec.connector_kwargs:
        side = (
            distiller.student_recorders
            if record.from_student else distiller.teacher_recorders)
        recorder = side.get_recorder(record.recorder)
        assert (name, recorder.source,
                record.data_idx) in (('hw_shape', 'backbone.patch_embed', 1),
                                     ('target_hw', 'backbone.patch_embed',
                                      1)), (name, record)
        grids[name] = record.from_student
    return grids


def distiller_layout(model, grids):
    """What a distiller computes, independent of its recorder names:
    per loss its type, arguments and, per loss argument, the recorded
    source (side, recorder type and module), call/data index and the
    connector applied. The token grids a connector reads from the input
    are collected in ``grids`` (``{(loss, argument): {name: side}}``), not
    in the layout: on the kit's equal 7 x 7 grids they only check the
    shapes and align nothing."""
    distiller = model.distiller
    layout = {}
    for name, loss in distiller.distill_losses.items():
        args = {
            key: value
            for key, value in vars(loss).items()
            if not key.startswith('_') and key != 'training'
        }
        inputs = {}
        for argument, spec in distiller.loss_specs[name].items():
            side = (
                distiller.student_recorders
                if spec.from_student else distiller.teacher_recorders)
            recorder = side.get_recorder(spec.recorder)
            inputs[argument] = (spec.from_student, type(recorder).__name__,
                                recorder.source, spec.record_idx,
                                spec.data_idx, spec.connector,
                                spec.connector_idx)
            grids[name, argument] = grid_kwargs(distiller, spec)
        layout[name] = (type(loss).__name__, args, inputs)
    return json.loads(json.dumps(layout))  # tuples as the JSON's lists


@pytest.mark.parametrize('config', DISTILL_CONFIGS)
def test_config_builds_the_model_of_the_committed_results(config):
    """Each distillation arm builds the model of the committed results:
    the same modules with the same initial weights (each tensor's shape,
    sum and sum of squares), the same losses with the same weights and
    arguments on the same recorded sources, and the same loss values on
    the same batch and mask draw."""
    with open(REFERENCE_MODELS) as f:
        reference = json.load(f)[config]
    _, model = build_model(osp.join(CONFIG_DIR, config))
    state = model.state_dict()
    assert list(state) == list(reference['weights'])
    for key, value in state.items():
        shape, total, squares = reference['weights'][key]
        value = value.double()
        assert list(value.shape) == shape, key
        assert value.sum().item() == pytest.approx(
            total, rel=1e-6, abs=1e-8), key
        assert value.pow(2).sum().item() == pytest.approx(
            squares, rel=1e-6, abs=1e-8), key
    grids = {}
    assert distiller_layout(model, grids) == reference['layout']
    # The preset reads each side's grid from its patch embedding: the
    # teacher tokens get both grids (TokenGridAlign: equal here, so
    # passed through), the generation the student's.
    for (loss, argument), kwargs in grids.items():
        if argument == 'preds_T':
            assert kwargs == dict(hw_shape=False, target_hw=True), loss
        elif loss == 'loss_gen':
            assert kwargs == dict(hw_shape=True), argument
        else:
            assert kwargs == {}, (loss, argument)

    torch.manual_seed(1)
    data = model.data_preprocessor(fashion_batch(), True)
    losses = model(**data, mode='loss')
    assert list(losses) == list(reference['losses'])
    for key, value in losses.items():
        assert value.item() == pytest.approx(
            reference['losses'][key], rel=1e-5, abs=1e-7), key


def test_fashion_mnist_configs_use_the_shipped_teacher():
    from mmengine.config import Config
    for arm in arms.ARMS.values():
        if arm.teacher is None:
            continue
        shipped = arms.TEACHERS[arm.teacher].shipped
        cfg = Config.fromfile(osp.join(CONFIG_DIR, arm.config))
        assert cfg.model.teacher_ckpt == shipped, arm.config


def test_modes_plan():
    full = arms.MODES['full']
    assert full.epochs == 15  # the configs' schedule
    assert all(len(full.plan[arm]) >= 3 for arm in arms.MAIN_ARMS)
    assert set(full.plan) == set(arms.MAIN_ARMS) | set(arms.ABLATION_ARMS)
    quick = arms.MODES['quick']
    assert list(quick.plan) == arms.MAIN_ARMS
    assert all(seeds == [0] for seeds in quick.plan.values())
    assert list(arms.MODES['demo'].plan) == ['student', 'vitkd-nkd']
    # ViTKD+NKD with a bf16 teacher: the fp32 arm plus one override
    bf16 = arms.MODES['bf16-teacher']
    assert (bf16.epochs, bf16.plan) == (15, {
        'vitkd-nkd': [0, 1, 2],
        'vitkd-nkd_bf16-teacher': [0, 1, 2]
    })
    assert arms.ARMS['vitkd-nkd_bf16-teacher'] == arms.ARMS[
        'vitkd-nkd']._replace(
            description='ViTKD + NKD, bf16 teacher',
            cfg_options=('model.teacher_precision=bf16', ))
    # Grid mismatch: both ways of aligning a 4 x 4-grid teacher, against
    # the student alone and ViTKD from the 7 x 7-grid teacher
    grid = arms.MODES['grid-mismatch']
    assert (grid.epochs, grid.plan) == (15, {
        arm: [0, 1, 2]
        for arm in ('student', 'vitkd', 'vitkd_teacher-p7',
                    'vitkd_teacher-p7-resize49')
    })
    assert {arms.ARMS[arm].teacher
            for arm in arms.GRID_MISMATCH_ARMS} == {'teacher-p7'}
    # --seeds: that many seeds for the main arms, ablations keep theirs
    plan = kit_plan.mode_plan('full', seeds=2)
    assert plan['vitkd'] == [0, 1] and plan['vitkd-deep-only'] == [0]
    assert kit_plan.mode_plan('quick') == quick.plan


def test_plan_jobs_pass_each_arm_its_teacher_and_options(monkeypatch):
    """A run's overrides: epochs, data root, the checkpoint of the arm's
    teacher (none for the student), then the arm's own options."""
    spec = arms.Arm('vit-d48_vitkd_fashion-mnist.py', 'x',
                    ('model.teacher_precision=bf16', ))
    teachers = dict(teacher=dict(checkpoint='t.pth'))
    plan = {'student': [0], 'vitkd': [1]}
    monkeypatch.setitem(arms.ARMS, 'vitkd', spec)
    pretrain_jobs, jobs = kit_plan.plan_jobs(
        plan, 'root/full_3e', 3, teachers,
        ['train_dataloader.dataset.data_root=d'])
    common = ['train_cfg.max_epochs=3', 'train_dataloader.dataset.data_root=d']
    assert pretrain_jobs == []
    assert jobs == [
        ('student', '[1/2] student seed 0',
         osp.join(arms.CONFIG_DIR, 'vit-d48_fashion-mnist.py'),
         osp.join('root/full_3e', 'student', 'seed0'), 0, common, None),
        ('vitkd', '[2/2] vitkd seed 1',
         osp.join(arms.CONFIG_DIR, 'vit-d48_vitkd_fashion-mnist.py'),
         osp.join('root/full_3e', 'vitkd', 'seed1'), 1,
         [*common, 'model.teacher_ckpt=t.pth',
          'model.teacher_precision=bf16'], None),
    ]


def test_run_plan_on_cpu(monkeypatch):
    """Default: one 1-thread run per core; a user's OMP_NUM_THREADS wins."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(os, 'cpu_count', lambda: 4)
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    jobs, env = runs.run_plan(None, 17)
    assert (jobs, env['OMP_NUM_THREADS']) == (4, '1')
    jobs, env = runs.run_plan(None, 2)  # --demo: two runs, two cores each
    assert (jobs, env['OMP_NUM_THREADS']) == (2, '2')
    jobs, env = runs.run_plan(8, 17)  # more jobs than cores
    assert (jobs, env['OMP_NUM_THREADS']) == (8, '1')
    monkeypatch.setenv('OMP_NUM_THREADS', '3')
    jobs, env = runs.run_plan(1, 17)
    assert (jobs, env['OMP_NUM_THREADS']) == (1, '3')
    assert 'OMP_NUM_THREADS=3' in runs.device_name(env)
    assert os.environ['OMP_NUM_THREADS'] == '3'  # this process: unchanged


def test_read_scalars_and_summary(tmp_path):
    vis = tmp_path / '20240101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    records = [
        dict(lr=1e-3, loss=2.0, time=0.5, epoch=1, iter=20, step=20),
        dict(lr=1e-3, loss=1.0, time=0.3, epoch=1, iter=40, step=40),
        {
            'accuracy/top1': 70.0,
            'time': 0.1,
            'step': 1
        },
        {
            'accuracy/top1': 75.5,
            'time': 0.1,
            'step': 2
        },
    ]
    (vis / 'scalars.json').write_text('\n'.join(map(json.dumps, records)))
    curve, sec_per_iter = runs.read_scalars(str(tmp_path))
    assert curve == [[1, 70.0], [2, 75.5]]
    assert sec_per_iter == pytest.approx(0.4)
    assert runs.read_teacher_top1(str(tmp_path)) is None
    records[2]['teacher/accuracy/top1'] = 88.5  # the loop's, at every val
    records[3]['teacher/accuracy/top1'] = 88.5
    (vis / 'scalars.json').write_text('\n'.join(map(json.dumps, records)))
    assert runs.read_teacher_top1(str(tmp_path)) == 88.5

    finished = dict(
        student=[
            dict(seed=s, top1=a, sec_per_iter=0.1)
            for s, a in enumerate((80.0, 82.0, 84.0))
        ],
        vitkd=[
            dict(seed=s, top1=a, sec_per_iter=0.2)
            for s, a in enumerate((85.0, 85.0, 85.0))
        ])
    summary = report.summarize(finished)
    assert summary['student']['mean'] == pytest.approx(82.0)
    assert summary['student']['std'] == pytest.approx(2.0)  # sample std
    assert summary['vitkd']['std'] == 0.0
    lines = report.claim_lines(summary)
    assert lines == [
        '- ViTKD beats the student alone: holds (vitkd 85.00 vs student '
        '82.00, +3.00 points; |difference| > seed std (2.00))'
    ]


@pytest.mark.parametrize('bf16_top1, verdict', [(81.5, 'holds'),
                                                (80.9, 'does NOT hold')])
def test_matches_claim_allows_one_reference_std(bf16_top1, verdict):
    """"A bf16 teacher does as well": within one seed std of the fp32 arm
    (mean 82, sample std 1) or above."""
    finished = {
        'vitkd-nkd': [
            dict(seed=s, top1=a, sec_per_iter=None)
            for s, a in enumerate((81.0, 82.0, 83.0))
        ],
        'vitkd-nkd_bf16-teacher':
        [dict(seed=s, top1=bf16_top1, sec_per_iter=None) for s in range(3)],
    }
    lines = report.claim_lines(report.summarize(finished))
    assert lines == [
        f'- a bf16 teacher does as well as an fp32 one: {verdict} '
        f'(vitkd-nkd_bf16-teacher {bf16_top1:.2f} vs vitkd-nkd 82.00, '
        f'{bf16_top1 - 82:+.2f} points; needs at least -1.00: one seed std '
        'of vitkd-nkd)'
    ]
    # Seed 0 alone (fp32 81.0): no std, so only "or above" counts.
    one_seed = {arm: runs_[:1] for arm, runs_ in finished.items()}
    [line] = report.claim_lines(report.summarize(one_seed))
    assert line.endswith('single seed of vitkd-nkd: no noise estimate)')
    assert (': holds (' if bf16_top1 >= 81.0 else ': not shown (') in line


COMMITTED = osp.join(REPO_ROOT, 'docs', 'fashion_mnist_results')


def write_kit_dir(mode_dir, data):
    """A mode work dir as run_arms.py leaves it, from a results JSON."""
    plan = {
        arm: [run['seed'] for run in runs_]
        for arm, runs_ in data['runs'].items()
    }
    record = {k: v for k, v in data.items() if k not in ('summary', 'runs')}
    os.makedirs(mode_dir)
    with open(osp.join(mode_dir, report.KIT_FILE), 'w') as f:
        json.dump(dict(record, plan=plan), f)
    for arm, runs_ in data['runs'].items():
        for run in runs_:
            work_dir = osp.join(mode_dir, arm, f'seed{run["seed"]}')
            os.makedirs(work_dir)
            with open(osp.join(work_dir, runs.RESULT_FILE), 'w') as f:
                json.dump(run, f)


def test_report_rebuilds_the_committed_table(tmp_path):
    """The committed full-mode table comes back byte for byte, from the
    committed JSON and from the work dirs the runs left, without training;
    a run that has not finished is named."""
    with open(COMMITTED + '.md') as f:
        committed = f.read()
    out = str(tmp_path / 'from_json')
    report.main([COMMITTED + '.json', '--out-dir', out])
    with open(osp.join(out, 'fashion_mnist_results.md')) as f:
        assert f.read() == committed

    with open(COMMITTED + '.json') as f:
        data = json.load(f)
    data['teachers'] = dict(teacher=data.pop('teacher'))
    mode_dir = str(tmp_path / 'work_dirs' / 'full_15e')
    write_kit_dir(mode_dir, data)
    out = str(tmp_path / 'from_work_dirs')
    report.main([mode_dir, '--out-dir', out])
    with open(osp.join(out, 'fashion_mnist_results.md')) as f:
        assert f.read() == committed
    with open(osp.join(out, 'fashion_mnist_results.json')) as f:
        rebuilt = json.load(f)
    assert rebuilt['runs'] == data['runs']
    # the same statistics (statistics.stdev: equal but for the last bits)
    assert list(rebuilt['summary']) == list(data['summary'])
    for arm, summary in data['summary'].items():
        for key, value in summary.items():
            assert rebuilt['summary'][arm][key] == (
                pytest.approx(value, rel=1e-12)
                if isinstance(value, float) else value)

    os.remove(osp.join(mode_dir, 'nkd', 'seed2', runs.RESULT_FILE))
    with pytest.raises(FileNotFoundError, match='nkd seed 2 has not'):
        report.load_kit(mode_dir)


@pytest.mark.parametrize('precision, size', [('fp32', None), ('fp32', 49),
                                             ('bf16', None)])
def test_check_teacher_scores_the_teacher_as_distillation_runs_it(
        fake_gz, tmp_path, capsys, precision, size):
    """tools/analysis_tools/check_teacher.py on the 7 px-patch teacher's
    configs (its own input size, or 49 px through teacher_input.size): the
    printed top-1 equals the accuracy of the teacher's logits computed here
    by hand, the batch normalised, resized (F.interpolate, bilinear) and run
    under autocast as SingleTeacherDistill does; a DDP-saved
    (``module.``-prefixed) file loads as it does as teacher_ckpt."""
    import torch.nn.functional as F
    from analysis_tools import check_teacher
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    src, data = fake_gz
    root = str(tmp_path / 'fashion_mnist')
    prep.prepare(src, root, shapes=ANY_SIZE)
    name = 'vit-d48_vitkd_teacher-p7' + ('' if size is None else
                                         '-resize49') + '_fashion-mnist.py'
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    torch.manual_seed(0)
    teacher = MODELS.build(cfg.model.teacher)
    checkpoint = str(tmp_path / 'teacher.pth')
    torch.save({
        'module.' + k: v
        for k, v in teacher.state_dict().items()
    }, checkpoint)
    options = [
        f'val_dataloader.dataset.data_root={root}',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers='
        'False', f'model.teacher_precision={precision}'
    ]
    assert check_teacher.main([
        osp.join(CONFIG_DIR, name), '--checkpoint', checkpoint,
        '--cfg-options', *options
    ]) == 0
    printed = capsys.readouterr().out
    images, labels = data['t10k']
    mean, std = cfg.data_preprocessor.mean[0], cfg.data_preprocessor.std[0]
    x = (torch.from_numpy(images).float()[:, None] - mean) / std
    if size is not None:
        x = F.interpolate(
            x, size=(size, size), mode='bilinear', align_corners=False)
    with torch.no_grad(), torch.autocast(
            'cpu', dtype=torch.bfloat16, enabled=precision == 'bf16'):
        predicted = teacher.eval()(x, mode='tensor').argmax(1)
    expected = 100 * (predicted == torch.from_numpy(labels)).sum() / 4
    assert f'teacher/accuracy/top1  {float(expected):.2f}' in printed
    assert f'{len(teacher.state_dict())} keys loaded' in printed
    assert f', {precision}\n' in printed
    assert ('size 49 x 49 (bilinear)' in printed) == (size is not None)


def test_check_teacher_exits_1_when_the_checkpoint_does_not_load(
        tmp_path, capsys):
    from analysis_tools import check_teacher
    checkpoint = str(tmp_path / 'teacher.pth')
    torch.save({'backbone.cls_token': torch.zeros(1, 1, 5)}, checkpoint)
    config = osp.join(CONFIG_DIR, 'vit-d48_vitkd_fashion-mnist.py')
    assert check_teacher.main([config, '--checkpoint', checkpoint]) == 1
    assert ('The checkpoint does not load: teacher_ckpt='
            in capsys.readouterr().out)
