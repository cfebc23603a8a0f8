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

import torch
from mmengine.config import Config
from mmengine.runner import Runner
from train import end_distributed, init_cpu_distributed

import vitkd_mm  # noqa: F401
from vitkd_mm.utils import merge_runner_args, parse_runner_args


def parse_args():
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    return parse_runner_args(parser)


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.load_from = args.checkpoint
    cfg = merge_runner_args(cfg, args)
    if args.launcher == 'pytorch' and not torch.cuda.is_available():
        init_cpu_distributed(cfg)
    Runner.from_cfg(cfg).test()
    end_distributed()


if __name__ == '__main__':
    main()
