"""Test a checkpoint with mmengine's Runner; also distributed on CPU-only
hosts.

Same interface as mmpretrain's ``tools/test.py``, with the CPU gloo path of
``tools/train.py``. The checkpoint is read through vitkd_mm's safe loader
(``import vitkd_mm`` installs it for ``load_from``).

Examples:
    python tools/test.py CONFIG work_dirs/CONFIG/epoch_300.pth
    bash tools/dist_test.sh CONFIG CHECKPOINT 2  # torchrun
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner
from train import end_distributed, init_cpu_distributed

import vitkd_mm  # noqa: F401


def parse_args():
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', '0')
    return args


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    cfg.load_from = args.checkpoint
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.launcher == 'pytorch' and not torch.cuda.is_available():
        init_cpu_distributed(cfg)
    Runner.from_cfg(cfg).test()
    end_distributed()


if __name__ == '__main__':
    main()
