"""The paper's DeiT configs: build, train one step, distil the right tokens."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper

from tests.utils import REPO_ROOT
from vitkd_mm.registry import MODELS

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')

CONFIGS = [
    'deit-t_vitkd', 'deit-t_vitkd-nkd', 'deit-t_nkd', 'deit-s_vitkd',
    'deit-s_vitkd-nkd', 'deit-b_vitkd', 'deit-b_vitkd-nkd'
]
EXPECTED = {
    # student arch, teacher arch, distillation loss names
    'deit-t_vitkd': ('deit-tiny', 's', {'mimic_0', 'mimic_1', 'gen'}),
    'deit-t_vitkd-nkd':
    ('deit-tiny', 's', {'mimic_0', 'mimic_1', 'gen', 'nkd'}),
    'deit-t_nkd': ('deit-tiny', 's', {'nkd'}),
    'deit-s_vitkd': ('deit-small', 'b', {'mimic_0', 'mimic_1', 'gen'}),
    'deit-s_vitkd-nkd':
    ('deit-small', 'b', {'mimic_0', 'mimic_1', 'gen', 'nkd'}),
    'deit-b_vitkd': ('deit-base', 'l', {'mimic_0', 'mimic_1', 'gen'}),
    'deit-b_vitkd-nkd':
    ('deit-base', 'l', {'mimic_0', 'mimic_1', 'gen', 'nkd'}),
}


def load_cfg(name):
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'vitkd', f'{name}.py'))
    cfg.model.teacher_ckpt = None  # no download in tests
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return cfg


def random_batch(batch_size=2, size=224, num_classes=1000):
    from mmpretrain.structures import DataSample
    return dict(
        inputs=[
            torch.randint(0, 256, (3, size, size), dtype=torch.uint8)
            for _ in range(batch_size)
        ],
        data_samples=[
            DataSample().set_gt_label(7 * i) for i in range(batch_size)
        ])


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds_and_trains_one_iteration(name):
    cfg = load_cfg(name)
    student_arch, teacher_arch, losses = EXPECTED[name]
    assert cfg.model.architecture.backbone.arch == student_arch
    assert cfg.model.teacher.backbone.arch == teacher_arch
    assert cfg.model.teacher.backbone.type == 'DeiT3'
    assert 'in21k-pre_3rdparty_in1k' in load_cfg(name)._cfg_dict.get(
        'teacher_ckpt')
    assert cfg.train_dataloader.batch_size * {
        'deit-b': 16
    }.get(name[:6], 4) == 1024  # the paper's total batch
    assert 'vitkd_mm' in cfg.custom_imports.imports

    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-4))
    log = model.train_step(random_batch(), optim)
    distill = {
        k[len('distill.loss_'):]
        for k in log if k.startswith('distill.loss_')
    }
    assert distill == losses
    assert all(torch.isfinite(v) for v in log.values())
    assert log['student.loss'] > 0


def test_vitkd_distills_patch_tokens_of_final_layernorm():
    """DeiT-T <- DeiT III-S: the deep feature is the output after the final
    LayerNorm, and both sides' distilled tokens exclude the cls token."""
    cfg = load_cfg('deit-t_vitkd')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    loss_inputs = {}
    for name, loss in model.distiller.distill_losses.items():
        loss.register_forward_pre_hook(
            lambda module, args, kwargs, name=name: loss_inputs.update(
                {name: kwargs}),
            with_kwargs=True)
    batch = random_batch()
    data = model.data_preprocessor(batch, True)
    model.train()
    model.loss(data['inputs'], data['data_samples'])

    def deep_tokens(classifier):
        """The backbone's own final tokens (after ln1), cls token included,
        read without hooks through ``out_type='raw'``."""
        backbone = classifier.backbone
        backbone.out_type = 'raw'
        try:
            return backbone(data['inputs'])[-1]  # B, 1 + 196, C
        finally:
            backbone.out_type = 'cls_token'

    with torch.no_grad():
        teacher_deep = deep_tokens(model.teacher.eval())
    assert teacher_deep.shape == (2, 197, 384)
    torch.testing.assert_close(loss_inputs['loss_gen']['preds_T'],
                               teacher_deep[:, 1:])
    assert loss_inputs['loss_gen']['preds_S'].shape == (2, 196, 384)
    assert loss_inputs['loss_gen']['mask'].sum(1).tolist() == [98, 98]

    # student side: the recorded deep value is the LayerNorm output
    # (drop path is off in DeiT-T), and the connector starts by dropping
    # the cls token: its projection of tokens[:, 1:] is what it sees.
    recorded = model.distiller.student_recorders.get_recorder(
        'deep').get_record_data()
    with torch.no_grad():
        expected = deep_tokens(model.architecture)
    torch.testing.assert_close(recorded, expected)
    mimic_input = model.distiller.student_recorders.get_recorder(
        'block0').get_record_data()
    projected = model.distiller.connectors.mimic0(mimic_input)
    torch.testing.assert_close(
        projected, model.distiller.connectors.mimic0.proj(mimic_input[:, 1:]))
    torch.testing.assert_close(loss_inputs['loss_mimic_0']['preds_S'],
                               projected)
    teacher_block0 = model.distiller.teacher_recorders.get_recorder(
        'block0').get_record_data()
    torch.testing.assert_close(loss_inputs['loss_mimic_0']['preds_T'],
                               teacher_block0[:, 1:])


@pytest.mark.parametrize('name, head_runs', [('deit-t_vitkd', False),
                                             ('deit-t_vitkd-nkd', True)])
def test_teacher_work_is_what_the_losses_need(name, head_runs):
    model = MODELS.build(load_cfg(name).model)
    calls = []
    model.teacher.head.register_forward_pre_hook(
        lambda *args: calls.append('head'))
    model.teacher.backbone.ln1.register_forward_pre_hook(
        lambda *args: calls.append('ln1'))
    data = model.data_preprocessor(random_batch(batch_size=1), True)
    model.loss(data['inputs'], data['data_samples'])
    assert calls == (['ln1', 'head'] if head_runs else ['ln1'])


def test_preset_builds_the_spelled_out_config():
    """ViTKDDistiller(192, 384, 14) == the listing in deit-t_vitkd.py."""
    listing = load_cfg('deit-t_vitkd')
    preset = load_cfg('deit-t_vitkd')
    preset.model.distiller = dict(
        type='ViTKDDistiller',
        student_dims=192,
        teacher_dims=384,
        patch_resolution=(14, 14))
    models = []
    for cfg in (listing, preset):
        torch.manual_seed(0)
        models.append(MODELS.build(cfg.model))
    state_a, state_b = (m.state_dict() for m in models)
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key
    data = models[0].data_preprocessor(random_batch(batch_size=1), True)
    losses = []
    for model in models:
        torch.manual_seed(1)
        losses.append(model.loss(data['inputs'], data['data_samples']))
    assert losses[0].keys() == losses[1].keys()
    for key in losses[0]:
        torch.testing.assert_close(losses[0][key], losses[1][key])


def test_mim_train_deit_t_vitkd_on_small_local_data(tmp_path):
    """`mim train mmpretrain configs/vitkd/deit-t_vitkd.py` runs unchanged
    but for data paths, a short schedule and no teacher download."""
    import subprocess
    import sys

    from tests.utils import make_image_folder
    root = tmp_path / 'imagenet'
    for split, per_class in (('train', 2), ('val', 1)):
        make_image_folder(
            str(root / split), num_classes=2, per_class=per_class, size=64)
        (root / 'meta').mkdir(exist_ok=True)
        lines = [
            f'class_{label}/img_{j}.png {label}' for label in range(2)
            for j in range(per_class)
        ]
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines))
    options = [
        'model.teacher_ckpt=None', 'train_cfg.max_epochs=1',
        'param_scheduler.0.end=1', 'param_scheduler.1.begin=0'
    ]
    for split in ('train', 'val'):
        options += [
            f'{split}_dataloader.dataset.data_root={root}',
            f'{split}_dataloader.dataset.ann_file=meta/{split}.txt',
            f'{split}_dataloader.batch_size=2',
            f'{split}_dataloader.num_workers=0',
            f'{split}_dataloader.persistent_workers=False'
        ]
    work_dir = tmp_path / 'work_dir'
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    result = subprocess.run([
        mim, 'train', 'mmpretrain', 'configs/vitkd/deit-t_vitkd.py',
        '--work-dir',
        str(work_dir), '--cfg-options', *options,
        'default_hooks.logger.interval=1'
    ],
                            cwd=REPO_ROOT,
                            capture_output=True,
                            text=True)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    for key in ('student.loss', 'distill.loss_mimic_0', 'distill.loss_mimic_1',
                'distill.loss_gen'):
        assert f'{key}: ' in log, key
    assert 'accuracy/top1' in log
    assert (work_dir / 'student.pth').exists()


def test_model_index_lists_the_metafile_of_every_config():
    """model-index.yml -> configs/vitkd/metafile.yml, whose models name
    existing configs: all the DeiT configs of this folder."""
    import yaml
    with open(osp.join(REPO_ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    assert index['Import'] == ['configs/vitkd/metafile.yml']
    with open(osp.join(REPO_ROOT, index['Import'][0])) as f:
        metafile = yaml.safe_load(f)
    for collection in metafile['Collections']:
        assert osp.isfile(osp.join(REPO_ROOT, collection['README']))
    configs = [model['Config'] for model in metafile['Models']]
    assert all(osp.isfile(osp.join(REPO_ROOT, c)) for c in configs), configs
    assert sorted(osp.basename(c)[:-3] for c in configs) == sorted(CONFIGS)


#: Foundation-model teachers: config -> (teacher weights' name in
#: mmpretrain's metafile, teacher input size, teacher token grid,
#: distillation loss names).
FOUNDATION = {
    'deit-t_vitkd_dinov2-s': ('dinov2', 'vit-small-p14_dinov2-pre_3rdparty',
                              224, (16, 16), {'mimic_0', 'mimic_1', 'gen'}),
    'deit-t_vitkd-nkd_eva02-s':
    ('eva02', 'vit-small-p14_eva02-in21k-pre_3rdparty_in1k-336px', 336,
     (24, 24), {'mimic_0', 'mimic_1', 'gen', 'nkd'}),
}


def metafile_weights(collection, model_name):
    """The weights URL of ``model_name`` in mmpretrain's metafile."""
    import mmpretrain
    from mmengine.fileio import load
    path = osp.join(
        osp.dirname(mmpretrain.__file__), '.mim', 'configs', collection,
        'metafile.yml')
    models = {m['Name']: m for m in load(path)['Models']}
    return models[model_name]['Weights']


@pytest.mark.parametrize('name', list(FOUNDATION))
def test_foundation_teacher_config_builds_and_trains_one_iteration(name):
    """DeiT-T <- DINOv2-S/14 and <- EVA-02-S/14 at 336 px, with the real
    architectures and random weights: the teacher sees its own input size
    and normalisation, its token grid is resized to the student's 14 x 14
    for the token losses, and one training step is finite."""
    collection, weights, size, grid, losses = FOUNDATION[name]
    assert load_cfg(name)._cfg_dict.get('teacher_ckpt') == metafile_weights(
        collection, weights)
    cfg = load_cfg(name)
    assert cfg.train_dataloader.batch_size * 4 == 1024
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    seen = {}
    model.teacher.backbone.register_forward_pre_hook(
        lambda module, args: seen.setdefault('input', args[0]))
    model.distiller.distill_losses.loss_gen.register_forward_pre_hook(
        lambda module, args, kwargs: seen.update(gen=kwargs), with_kwargs=True)
    model.distiller.connectors.patch_tokens.register_forward_pre_hook(
        lambda module, args, kwargs: seen.update(grid=kwargs['hw_shape']),
        with_kwargs=True)
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-4))
    log = model.train_step(random_batch(), optim)
    distill = {
        k[len('distill.loss_'):]
        for k in log if k.startswith('distill.loss_')
    }
    assert distill == losses
    assert all(torch.isfinite(v) for v in log.values())
    assert seen['input'].shape == (2, 3, size, size)
    assert tuple(seen['grid']) == grid
    assert seen['gen']['preds_T'].shape == (2, 196, 384)
    assert seen['gen']['preds_S'].shape == (2, 196, 384)


def test_eva02_teacher_input_is_clip_normalised():
    """The EVA-02 teacher gets the student's ImageNet-normalised batch
    re-normalised to the CLIP mean/std, computed here by hand."""
    cfg = load_cfg('deit-t_vitkd-nkd_eva02-s')
    model = MODELS.build(cfg.model)
    student = model.data_preprocessor
    x = torch.randn(2, 3, 224, 224)
    raw = x * student.std + student.mean
    clip_mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]) * 255
    clip_std = torch.tensor([0.26862954, 0.26130258, 0.27577711]) * 255
    expected = (raw - clip_mean.view(1, 3, 1, 1)) / clip_std.view(1, 3, 1, 1)
    expected = torch.nn.functional.interpolate(
        expected, size=(336, 336), mode='bilinear', align_corners=False)
    torch.testing.assert_close(model.teacher_input(x), expected)


def test_dinov2_teacher_refuses_nkd():
    cfg = load_cfg('deit-t_vitkd_dinov2-s')
    cfg.model.distiller.nkd = dict(gamma=1.0)
    with pytest.raises(ValueError, match='headless teacher'):
        MODELS.build(cfg.model)
