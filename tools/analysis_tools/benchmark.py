"""Cost of one distillation training step, against the student alone.

For a student <- teacher pair, times one training step (data preprocessing
with the batch augments, forward, backward, optimizer step: exactly
``model.train_step`` as the runner calls it, with the config's optimizer
wrapper) and measures the peak memory of:

- (a) ``student``: the student ``ImageClassifier`` alone;
- (b) ``floor``: ``SingleTeacherDistill`` with a distiller that records
  nothing: the full teacher forward (tensor mode, eval, ``no_grad``)
  followed by the student's own training step. Every distiller pays at
  least this;
- (c) ``vitkd`` and ``vitkd_nkd``: ``SingleTeacherDistill`` built from
  ``configs/vitkd/deit-t_vitkd.py`` and ``configs/vitkd/deit-t_vitkd-nkd.py``;
- (c') ``no_generator``, a diagnostic: ViTKD+NKD with the generation
  connector's generator (the paper's Conv3x3-ReLU-Conv3x3) replaced by a
  pass-through. (c')/(b) is what the rest of the distiller costs (hooks,
  projections, masking, losses, their optimizer state); (c - c')/(b) is the
  generator's share.
- (c-) ``unchecked``, a diagnostic: ViTKD+NKD with ``check_finite=False``;
  (c)/(c-) - 1 is what the non-finite-loss guard costs per step.
- (cm) ``no_metrics``, a diagnostic: ViTKD+NKD with
  ``alignment_metrics=False``; (c)/(cm) - 1 is what the alignment metrics
  (token cosines, top-1 agreement) cost per step.
- (b16), (c16) ``floor_bf16``, ``vitkd_bf16``, ``vitkd_nkd_bf16``: (b) and
  (c) with ``teacher_precision='bf16'`` (the teacher's forward under bf16
  autocast). Their ratios are given against (b), against (b16) and against
  (a). The gain depends on native bf16 arithmetic: the report names the
  CPU's bf16 flags (``amx_bf16``, ``avx512_bf16``) or says that it has none.

It prints the median time per step and the peak memory of each arm, then
the ratios (c)/(b), (c)/(a) and the split of (c)/(b) by (c'); ``--json FILE``
writes the same figures (and every step's time) as data, and :func:`main`
returns them. (c) can
come out below (b): the distiller runs the teacher only as far as its
losses need (no head for ViTKD alone).

Each arm runs in a fresh process (``vitkd_mm.utils.fresh_process_pool``:
spawned, one task per process; ``benchmark_step.measure_arm``), so peak
memory is per arm: on CUDA ``torch.cuda.max_memory_allocated``; on CPU the
process's peak resident set size (``VmHWM``), which also counts Python, the
libraries and the weights; "step" memory is that peak minus what was held
before the first step. On CPU the median process CPU time per step is
shown too: on a shared machine it depends much less on the other
processes than wall time does.
Teachers get random weights (``teacher_ckpt=None``): nothing is downloaded.

The arms are built by ``benchmark_arms.py``, measured by
``benchmark_step.py`` and reported by ``benchmark_report.py`` (tables with
rich).

Pairs: ``deit-t_deit3-s`` (DeiT-T <- DeiT III-S at 224 px, the shipped
configs) and ``tiny`` (the same configs with small ViTs on 32 px inputs, for
quick runs).

Examples:
    python tools/analysis_tools/benchmark.py --pair deit-t_deit3-s \
        --device cpu --threads 1 --batch-size 8 --steps 5 --warmup 2
    python tools/analysis_tools/benchmark.py --pair deit-t_deit3-s \
        --device cuda --amp --batch-size 128 --json bench.json
"""
import argparse
import json
import os

import torch
from benchmark_arms import ARMS
from benchmark_report import analyse, format_report
from benchmark_step import measure_arm

from vitkd_mm.utils import fresh_process_pool


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Time and peak memory of a training step: student '
        'alone, student + teacher forward, ViTKD, ViTKD+NKD, each with an '
        'fp32 and a bf16 teacher.')
    parser.add_argument(
        '--pair',
        choices=['deit-t_deit3-s', 'tiny'],
        default='deit-t_deit3-s',
        help='student <- teacher pair')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument(
        '--steps', type=int, default=10, help='timed steps per arm')
    parser.add_argument(
        '--warmup', type=int, default=3, help='untimed steps first')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='cpu or cuda (default: cuda when available)')
    parser.add_argument(
        '--amp',
        nargs='?',
        const='bf16',
        choices=['bf16', 'fp16'],
        help='mixed precision on CUDA (AmpOptimWrapper, as train.py --amp '
        'sets it), bf16 unless fp16 is given')
    parser.add_argument(
        '--threads', type=int, help='torch CPU threads (and OMP/MKL threads)')
    parser.add_argument(
        '--rounds',
        type=int,
        default=1,
        help='run the arms this many times in turn and pool the steps '
        '(evens out load drift on a shared machine)')
    parser.add_argument(
        '--json',
        metavar='FILE',
        help='also write the figures, ratios and raw step times as JSON')
    args = parser.parse_args(argv)
    if args.amp and not args.device.startswith('cuda'):
        parser.error('--amp needs a CUDA device (mmengine AmpOptimWrapper).')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error('--device cuda, but torch sees no CUDA device.')
    if min(args.batch_size, args.steps, args.rounds) < 1 or args.warmup < 0:
        parser.error('--batch-size, --steps and --rounds must be >= 1, '
                     '--warmup >= 0.')
    return args


def run_arms(args) -> dict:
    """Each arm ``args.rounds`` times, in turn, each run in a fresh process.

    Returns:
        dict: ``{arm: [figures of each round]}`` (see
        :func:`benchmark_step.measure_arm`).
    """
    options = dict(
        pair=args.pair,
        batch_size=args.batch_size,
        steps=args.steps,
        warmup=args.warmup,
        device=args.device,
        amp=args.amp,
        threads=args.threads)
    # What the fresh processes read when they import torch.
    os.environ['PYTHONWARNINGS'] = 'ignore'
    if args.threads:
        os.environ.update(
            OMP_NUM_THREADS=str(args.threads),
            MKL_NUM_THREADS=str(args.threads))
    results = {arm: [] for arm in ARMS}
    with fresh_process_pool() as pool:
        for _ in range(args.rounds):
            for arm in ARMS:
                results[arm].append(
                    pool.submit(measure_arm, arm, options).result())
    return results


def main(argv=None) -> dict:
    """Run the benchmark; print its tables and return its figures (see
    :func:`benchmark_report.analyse`)."""
    args = parse_args(argv)
    report = analyse(args, run_arms(args))
    print(format_report(report))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == '__main__':
    main()
