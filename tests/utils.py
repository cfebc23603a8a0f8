"""Helpers shared by the test modules (fixtures live in conftest.py)."""
import glob
import json
import os
import os.path as osp
import pickle
import re
import shutil
import socket
import subprocess
import sys

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample
from torch import nn

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: A tiny ViT -> ViT distillation in the MMRazor vocabulary.
TINY_CONFIG = osp.join(REPO_ROOT, 'tests', 'configs', 'tiny_vit_distill.py')
#: The Mask R-CNN config of the distilled DeiT-T backbone.
VITKD_T_1X = 'configs/mask_rcnn/mask-rcnn_deit-t-vitkd_sfp_1x_coco.py'
PYTHON = sys.executable
MIM = osp.join(osp.dirname(sys.executable), 'mim')
if not osp.exists(MIM):
    MIM = shutil.which('mim') or MIM


def add_one(x):
    """A module-level function for the FunctionOutputs recorder test."""
    return x + 1


def make_image_folder(root, num_classes=3, per_class=4, size=32, seed=0):
    """Write a tiny ImageNet-style folder dataset: root/class_k/img_j.png.

    Each class has its own mean colour, so a model can learn something.
    """
    import cv2
    rng = np.random.default_rng(seed)
    for label in range(num_classes):
        folder = osp.join(root, f'class_{label}')
        os.makedirs(folder, exist_ok=True)
        for j in range(per_class):
            base = np.full((size, size, 3), 40 + 80 * label, np.float64)
            image = np.clip(base + rng.normal(0, 20, base.shape), 0, 255)
            cv2.imwrite(
                osp.join(folder, f'img_{j}.png'), image.astype(np.uint8))
    return root


def tiny_distill_cfg():
    """The model config of ``tests/configs/tiny_vit_distill.py``.

    With the top-level ``data_preprocessor`` merged in, as the Runner does.
    """
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return cfg.model


def tiny_runner_cfg(tmp_path):
    """The tiny config on a fresh image folder, for an in-process Runner."""
    data_root = make_image_folder(str(tmp_path / 'data'))
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.work_dir = str(tmp_path / 'work_dir')
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root
    return cfg


def data_options(data_root):
    """``--cfg-options`` pointing every dataloader at ``data_root``."""
    return [
        f'{split}_dataloader.dataset.data_root={data_root}'
        for split in ('train', 'val', 'test')
    ]


def free_port():
    """A TCP port free on loopback now, as a string."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])


def fake_batch(batch_size=4, num_classes=3, size=32, seed=0):
    """A data batch as mmpretrain's dataloader yields it."""
    from mmpretrain.structures import DataSample
    generator = torch.Generator().manual_seed(seed)
    inputs = [
        torch.randint(
            0, 256, (3, size, size), generator=generator, dtype=torch.uint8)
        for _ in range(batch_size)
    ]
    samples = [
        DataSample().set_gt_label(i % num_classes) for i in range(batch_size)
    ]
    return dict(inputs=inputs, data_samples=samples)


def run(cmd, env=None, **kwargs):
    """Run a command from the repository root (1 thread, this tree's
    vitkd_mm on the path, and ``env`` added to the environment); fail with
    its output unless it exits 0.

    Returns:
        str: Its stdout and stderr.
    """
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1',
        PYTHONPATH=REPO_ROOT,
        **(env or {}))
    result = subprocess.run(
        cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        result.stdout[-4000:] + result.stderr[-4000:])
    return result.stdout + result.stderr


def run_mim(*args):
    """``mim ARGS`` (train/test), as :func:`run` runs it."""
    return run([MIM, *args], timeout=600)


def convert_to_student(src, dst):
    """Export the student with the model converter
    ``tools/model_converters/convert_to_student.py``; return ``dst``."""
    run([PYTHON, 'tools/model_converters/convert_to_student.py', src, dst])
    return dst


def make_distill_checkpoint(path, final_norm=True, seed=0):
    """A distillation checkpoint of a random DeiT-T classifier student.

    Every student tensor is perturbed so no value equals a fresh init, and
    fake teacher / distiller entries are added.
    """
    from mmpretrain.models import ImageClassifier
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        student = ImageClassifier(
            backbone=dict(
                type='VisionTransformer',
                arch='deit-tiny',
                final_norm=final_norm),
            head=dict(
                type='VisionTransformerClsHead',
                num_classes=1000,
                in_channels=192))
    state_dict = {
        'architecture.' + key: value + 0.01 * torch.randn_like(value)
        for key, value in student.state_dict().items()
    }
    state_dict['teacher.x'] = torch.zeros(1)
    state_dict['distiller.y'] = torch.zeros(1)
    torch.save(dict(meta=dict(epoch=1), state_dict=state_dict), path)
    return path


def tiny_data_options(data_root, scale='(320,192)'):
    """``--cfg-options`` pointing a COCO 2017 config at ``data_root``."""
    ann = osp.join(data_root, 'annotations', 'instances_val2017.json')
    options = [
        f'val_evaluator.ann_file={ann}',
        f'test_evaluator.ann_file={ann}',
        # an untrained head scores every class about 1/81, under 0.05
        'model.test_cfg.rcnn.score_thr=0.0'
    ]
    cfg = Config.fromfile(osp.join(REPO_ROOT, VITKD_T_1X))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        pipeline = cfg[loader].dataset.pipeline
        resize = next(i for i, t in enumerate(pipeline) if t.type == 'Resize')
        options += [
            f'{loader}.dataset.data_root={data_root}/',
            f'{loader}.dataset.pipeline.{resize}.scale={scale}',
            f'{loader}.num_workers=0', f'{loader}.persistent_workers=False'
        ]
    return options


def read_run(work_dir):
    """The text log and the json scalar records of the run in work_dir."""
    run, = [d for d in os.listdir(work_dir) if re.fullmatch(r'\d+_\d+', d)]
    with open(osp.join(work_dir, run, f'{run}.log'), encoding='utf-8') as f:
        log = f.read()
    json_log = osp.join(work_dir, run, 'vis_data', f'{run}.json')
    if not osp.exists(json_log):  # mmengine writes the test one up a level
        json_log = osp.join(work_dir, run, f'{run}.json')
    with open(json_log, encoding='utf-8') as f:
        records = [json.loads(line) for line in f]
    return log, records


# Helpers of the tests of more than one module (the test files mirror the
# package). A file that imports one under a shorter name (``... as build``)
# is told so in the helper's docstring.


class TwoLayers(nn.Module):
    """Two linears, and a plain method, for the recorder tests."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(4, 3)
        self.second = nn.Linear(3, 2)

    def forward(self, x):
        return self.second(self.first(x))

    def double(self, x):
        return 2 * x


def optim_for(model):
    return OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))


def build_tiny_distill(**changes):
    """The tiny distillation with ``changes`` to its model config (imported
    as ``build``)."""
    from vitkd_mm.registry import MODELS
    cfg = tiny_distill_cfg()
    cfg.update(changes)
    return MODELS.build(cfg)


def tiny_distill(tmp_path, **kwargs):
    """The tiny distillation, built with a teacher file and settings
    (imported as ``tiny``)."""
    from vitkd_mm.registry import MODELS
    return MODELS.build(dict(tiny_distill_cfg(), **kwargs))


def tiny_teacher_state():
    from vitkd_mm.registry import MODELS
    return MODELS.build(tiny_distill_cfg().teacher).state_dict()


def vitkd_cfg(**distiller):
    """The tiny ViTs of tests/configs/tiny_vit_distill.py under the preset."""
    cfg = tiny_distill_cfg()
    cfg.distiller = dict(type='ViTKDDistiller', **distiller)
    return cfg


def classifier(backbone, head_dims=None):
    """An ImageClassifier config; ``head_dims`` None means headless."""
    head = None if head_dims is None else dict(
        type='VisionTransformerClsHead', num_classes=3, in_channels=head_dims)
    return dict(
        type='ImageClassifier', backbone=backbone, neck=None, head=head)


def tiny_vit(dims, img_size, patch_size, **kwargs):
    return dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=dims,
            num_layers=2,
            num_heads=2,
            feedforward_channels=2 * dims),
        img_size=img_size,
        patch_size=patch_size,
        **kwargs)


def distill(student, teacher, distiller=None, **kwargs):
    """SingleTeacherDistill of two configs, in eval-free train mode."""
    from vitkd_mm.registry import MODELS
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='vitkd_mm.SingleTeacherDistill',
            architecture=student,
            teacher=teacher,
            distiller=dict(type='ViTKDDistiller', **(distiller or {})),
            **kwargs))


def loss_inputs(model, inputs, labels=(0, 1)):
    """Run ``model.loss`` and return each distill loss's keyword inputs."""
    seen = {}
    for name, loss in model.distiller.distill_losses.items():
        loss.register_forward_pre_hook(
            lambda module, args, kwargs, name=name: seen.update({name: kwargs}
                                                                ),
            with_kwargs=True)
    samples = [DataSample().set_gt_label(label) for label in labels]
    model.loss(inputs, samples)
    return seen


# B=2 samples, N=2 tokens, D=2 channels (imported as S and T)
HAND_S = [[[1., 2.], [3., 4.]], [[0., 1.], [1., 0.]]]
HAND_T = [[[0., 0.], [1., 1.]], [[0., 0.], [0., 0.]]]
# squared errors: sample 0 -> token 0: 1 + 4, token 1: 4 + 9;
#                 sample 1 -> token 0: 0 + 1, token 1: 1 + 0


def loop_sq_err(preds_S, preds_T, mask=None):
    """Sum over samples, tokens, channels of mask * (S - T) ** 2, by loops."""
    B, N, D = preds_S.shape
    total = 0.
    for b in range(B):
        for n in range(N):
            m = 1. if mask is None else mask[b, n].item()
            for d in range(D):
                total += m * (preds_S[b, n, d] - preds_T[b, n, d]).item()**2
    return total


class LabelTrap(DataSample):
    """A data sample without labels whose label fields raise when read."""

    @property
    def gt_label(self):
        raise AssertionError('gt_label was read')

    @property
    def gt_score(self):
        raise AssertionError('gt_score was read')


def unlabelled(batch, trap=True):
    """``batch`` with its data samples replaced by label-free ones."""
    sample = LabelTrap if trap else DataSample
    return dict(
        inputs=batch['inputs'],
        data_samples=[sample() for _ in batch['data_samples']])


def adamw_train_step(model, batch):
    """One AdamW train step of ``model`` on ``batch`` (imported as
    ``step``)."""
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    model.train()
    return model.train_step(batch, optim)


def message_hub_checkpoint(name):
    """A checkpoint as mmengine writes it: HistoryBuffers holding numpy."""
    hub = MessageHub.get_instance(name)
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', np.float64(2.5))
    hub.update_info('epoch', 3)
    return dict(
        meta=dict(message_hub=hub.state_dict()),
        state_dict=dict(w=torch.ones(2)))


def check_message_hub_checkpoint(state):
    buffer = state['meta']['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == 2.0 and buffer.statistics('max') == 2.5
    assert state['meta']['message_hub']['runtime_info']['epoch'] == 3
    assert torch.equal(state['state_dict']['w'], torch.ones(2))


class SystemPayload:
    """Unpickling it runs ``touch MARKER``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def write_pickle(path, obj, fmt):
    """``fmt``: torch's zip format, its legacy format, or a bare pickle."""
    if fmt == 'zip':
        torch.save(obj, path)
    elif fmt == 'legacy':
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:
        with open(path, 'wb') as f:
            pickle.dump(obj, f, protocol=2)


def check_unreadable_message(message, path):
    assert 'Cannot read checkpoint' in message and path in message
    assert 'empty, truncated, corrupt' in message
    assert 'weights_only' not in message


def grid_pair_cfg(tmp_path, max_epochs=2):
    """The tiny config as ViTKD+NKD with a 16 x 16 teacher grid (7 px
    patches) and a 14 x 14 student grid (8 px), on 112 px images."""
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.work_dir = str(tmp_path / 'work_dir')
    data_root = make_image_folder(str(tmp_path / 'data'), size=112)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root
    for side, patch in (('architecture', 8), ('teacher', 7)):
        cfg.model[side].backbone.update(img_size=112, patch_size=patch)
    cfg.model.distiller = dict(type='ViTKDDistiller', nkd=dict(gamma=1.0))
    cfg.train_cfg.max_epochs = max_epochs
    cfg.default_hooks.token_maps = dict(
        type='vitkd_mm.TokenMapHook', indices=(0, 5, 9, 12))
    cfg.custom_hooks = []
    return cfg


def train_log_records(work_dir):
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', '2*.json')))
    assert logs, f'no json log in {work_dir}'
    records = []
    for path in logs:
        with open(path) as f:
            records += [json.loads(line) for line in f]
    return [r for r in records if 'loss' in r]
