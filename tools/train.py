"""Train a config with mmengine's Runner; also distributed on CPU-only hosts.

Same interface as mmpretrain's ``tools/train.py`` (which ``mim train`` runs).
The difference: with ``--launcher pytorch`` on a machine without CUDA,
mmengine would call ``torch.cuda.set_device``; we initialise a gloo process
group first (the Runner then skips its own init) and wrap the model in
``MMDistributedDataParallel`` without device ids. After training, the Runner
is freed and the process group destroyed, which joins gloo's threads: left to
interpreter teardown, they can abort the process (SIGABRT) after a successful
run.

Examples:
    python tools/train.py configs/vitkd/deit-t_vitkd.py
    bash tools/dist_train.sh CONFIG 2  # torchrun, --launcher pytorch
"""
import argparse
import gc

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.runner import Runner

import vitkd_mm  # noqa: F401
from vitkd_mm.utils import merge_runner_args, parse_runner_args


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument(
        '--amp', action='store_true', help='mixed precision training')
    return parse_runner_args(parser)


def merge_args(cfg, args):
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return merge_runner_args(cfg, args)


def init_cpu_distributed(cfg):
    """Start a gloo process group and a CPU DDP wrapper for the Runner.

    The wrapper has the Runner's own defaults (``broadcast_buffers=False``:
    no buffer, such as a frozen teacher's BatchNorm statistics, is sent
    from rank 0 at every forward) unless the config sets
    ``model_wrapper_cfg``.
    """
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def end_distributed():
    """Destroy the process group, if any, once the Runner is unreferenced.

    The wrapped model holds the group and the Runner sits in reference
    cycles: collect it first, so destroying the group ends gloo's threads.
    """
    if dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def run_training(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()


def main():
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    if args.launcher == 'pytorch' and not torch.cuda.is_available():
        init_cpu_distributed(cfg)
    run_training(cfg)
    end_distributed()


if __name__ == '__main__':
    main()
