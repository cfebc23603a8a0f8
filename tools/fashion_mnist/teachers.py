"""The kit's teachers: the shipped checkpoint, or trained once and reused."""
import json
import os.path as osp

from vitkd_mm.utils import fresh_process_pool
from .arms import TEACHERS, config_path
from .runs import train


def find_checkpoint(work_dir):
    """The checkpoint the Runner saved last in ``work_dir`` (relative)."""
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return osp.relpath(f.read().strip())


def export_teacher(work_dir, config, record):
    """Save a trained teacher's weights alone, with its record, to ship.

    Returns:
        str: ``WORK_DIR/<config name>.pth`` (a plain state dict; the
        ``.json`` beside it holds the training record).
    """
    import torch

    from vitkd_mm.utils import safe_torch_load
    path = osp.join(work_dir, osp.splitext(osp.basename(config))[0] + '.pth')
    if not osp.isfile(path):
        checkpoint = safe_torch_load(find_checkpoint(work_dir), 'cpu')
        torch.save(checkpoint['state_dict'], path)
    with open(osp.splitext(path)[0] + '.json', 'w') as f:
        json.dump(record, f, indent=1)
    return path


def checkpoint_record(path):
    """A teacher checkpoint's record: the ``.json`` of the same name, if
    any (else top-1 unknown), with ``checkpoint`` set to ``path``."""
    record = dict(top1=None)
    json_path = osp.splitext(path)[0] + '.json'
    if osp.isfile(json_path):
        with open(json_path) as f:
            record = json.load(f)
    record['checkpoint'] = path
    return record


def get_teacher(name, root, data_opts, checkpoint=None, retrain=False):
    """A teacher's record (with its ``checkpoint``): the given checkpoint,
    the shipped one, else trained once in ``root/<name>_<epochs>e`` (or
    reused from there), in that order of preference."""
    teacher = TEACHERS[name]
    if checkpoint is None and not retrain and osp.isfile(teacher.shipped):
        checkpoint = teacher.shipped
    if checkpoint:
        return checkpoint_record(checkpoint)
    from mmengine.config import Config
    config = config_path(teacher.config)
    epochs = Config.fromfile(
        config, import_custom_modules=False).train_cfg.max_epochs
    print(f'{name} (trained once, reused by every mode):')
    work_dir = osp.join(root, f'{name}_{epochs}e')
    with fresh_process_pool() as pool:
        record = train(pool, name, config, work_dir, 0, data_opts)
    record['checkpoint'] = export_teacher(work_dir, config, record)
    return record
