"""Check a distillation config's teacher before hours of training.

Builds the config's model, loads the teacher's checkpoint through the code
``teacher_ckpt`` uses, and prints: the key report of loading, the teacher's
input path (size, mean/std, channel order, precision), its top-1 on N
validation batches as training feeds it (a k-NN top-1 for a headless
teacher, see ``SingleTeacherDistillValLoop``), and its forward time per
batch in fp32 and bf16 (with the CPU or GPU model). Exits 1 when the
checkpoint does not load.

Examples:
    python tools/analysis_tools/check_teacher.py \
        configs/vitkd/fashion-mnist/vit-d48_vitkd_fashion-mnist.py
    python tools/analysis_tools/check_teacher.py \
        configs/vitkd/deit-t_vitkd_dinov2-s.py --checkpoint dinov2-s.pth \
        --num-batches 20
"""
import argparse
import json
import statistics
import sys
import time

import torch

import vitkd_mm  # noqa: F401  (registries, safe checkpoint loading)
from vitkd_mm.utils import add_cfg_options, load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Check the teacher of a distillation config')
    parser.add_argument('config', help='distillation config')
    parser.add_argument(
        '--checkpoint',
        help='teacher weights (default: the teacher_ckpt of '
        'the config)')
    parser.add_argument(
        '--num-batches',
        type=int,
        help='validation batches to score (default: all)')
    parser.add_argument(
        '--num-train',
        type=int,
        default=10000,
        help='training images of the k-NN bank of a headless teacher')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--json', help='also write the figures here')
    add_cfg_options(parser, 'override config settings, as tools/train.py')
    return parser.parse_args(argv)


def build(cfg, checkpoint):
    """The config's distillation model with ``checkpoint`` as its
    ``teacher_ckpt``, or None (saying why) if the file does not load."""
    from vitkd_mm.registry import MODELS
    model_cfg = dict(cfg.model, teacher_ckpt=checkpoint)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    try:
        return MODELS.build(model_cfg)
    except Exception as err:  # noqa: B902  (whatever loading raises)
        if not str(err).startswith('teacher_ckpt'):
            raise
        print(f'The checkpoint does not load: {err}')
        return None


def forward_ms(model, inputs, precision, repeats=3):
    """Median ms of the teacher's forward on ``inputs`` in ``precision``."""
    from vitkd_mm.models.algorithms.teacher_precision import TeacherPrecision
    model.teacher_precision = TeacherPrecision(precision, inputs.device.type)
    times = []
    for _ in range(repeats + 1):  # the first is a warm-up
        start = time.perf_counter()
        model.teacher_forward(inputs, mode='tensor')
        times.append(1000 * (time.perf_counter() - start))
    return round(statistics.median(times[1:]), 1)


def check(cfg, checkpoint, num_batches=None, num_train=10000, device='cpu'):
    """Load, describe, score and time the teacher; see the module doc.

    Returns:
        dict: ``loaded`` (bool), ``report`` (key report), ``input``,
        ``metrics``, ``forward_ms`` (per precision), ``device``.
    """
    from mmengine.evaluator import Evaluator
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from vitkd_mm.engine.runner import evaluate_teacher
    from vitkd_mm.engine.runner.teacher_evaluation import knn_bank_loader
    from vitkd_mm.models.algorithms.teacher_input import describe_teacher_input
    from vitkd_mm.models.algorithms.teacher_precision import \
        supported_precisions
    from vitkd_mm.utils import device_name

    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = build(cfg, checkpoint)
    result = dict(checkpoint=checkpoint, loaded=model is not None)
    if model is None:
        return result
    report = model.teacher_ckpt_report
    result['report'] = dict(
        loaded=len(report.loaded),
        ignored=report.ignored,
        recomputed=report.recomputed,
        resized=[list(map(str, item)) for item in report.resized],
        problems=report.problems)
    precision = model.teacher_precision.precision
    result['input'] = (f'{describe_teacher_input(model.teacher_input)}, '
                       f'{precision}')
    model.to(device).eval()
    loader = Runner.build_dataloader(cfg.val_dataloader)
    evaluator = Evaluator(cfg.val_evaluator)
    evaluator.dataset_meta = getattr(loader.dataset, 'metainfo', None)
    bank = None
    if getattr(model.teacher, 'head', None) is None:
        bank = knn_bank_loader(cfg, num_train, loader.batch_size,
                               loader.collate_fn)
    size = len(loader.dataset)
    if num_batches is not None:
        size = min(size, num_batches * loader.batch_size)
    result['metrics'] = evaluate_teacher(
        model, loader, evaluator, size, bank, max_batches=num_batches)
    inputs = model.data_preprocessor(next(iter(loader)), False)['inputs']
    result['forward_ms'] = {
        name: forward_ms(model, inputs, name)
        for name in ('fp32', 'bf16')
        if name in supported_precisions(inputs.device.type)
    }
    result['batch'] = list(inputs.shape)
    result['device'] = device_name(device)
    return result


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    checkpoint = args.checkpoint or cfg.model.get('teacher_ckpt')
    if checkpoint is None:
        sys.exit('No checkpoint: the config sets no model.teacher_ckpt; '
                 'give --checkpoint.')
    result = check(cfg, checkpoint, args.num_batches, args.num_train,
                   args.device)
    if not result['loaded']:
        return 1
    report = result['report']
    print(f'checkpoint  {checkpoint}: {report["loaded"]} keys loaded')
    for name in ('ignored', 'recomputed', 'resized'):
        if report[name]:
            print(f'  {name}: {report[name]}')
    if report['problems']:
        print(f'  not loaded: {report["problems"]}')
    print(f'input       {result["input"]}')
    for key, value in result['metrics'].items():
        print(f'{key}  {value:.2f}')
    times = ', '.join(f'{name} {ms} ms'
                      for name, ms in result['forward_ms'].items())
    print(f'forward     {times} per batch of {result["batch"]} '
          f'({result["device"]})')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(config=args.config, **result), f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
