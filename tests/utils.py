"""Helpers shared by the test modules (fixtures live in conftest.py)."""
import json
import os
import os.path as osp
import re
import shutil
import socket
import subprocess
import sys

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

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
