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

Each arm runs in a fresh subprocess, so peak memory is per arm: on CUDA
``torch.cuda.max_memory_allocated``; on CPU the process's peak resident set
size (``VmHWM``), which also counts Python, the libraries and the weights;
"step" memory is that peak minus what was held before the first step. On
CPU the median process CPU time per step is shown too: on a shared machine
it depends much less on the other processes than wall time does.
Teachers get random weights (``teacher_ckpt=None``): nothing is downloaded.

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
import os.path as osp
import subprocess
import sys
import tempfile
import time
from statistics import median
from typing import Optional

import torch

from vitkd_mm.utils import device_name

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = dict(
    vitkd=osp.join(REPO_ROOT, 'configs', 'vitkd', 'deit-t_vitkd.py'),
    vitkd_nkd=osp.join(REPO_ROOT, 'configs', 'vitkd', 'deit-t_vitkd-nkd.py'))
ARMS = dict(
    student='(a) student alone',
    floor='(b) student + teacher fwd',
    vitkd='(c) ViTKD',
    vitkd_nkd='(c) ViTKD+NKD',
    no_generator="(c') ViTKD+NKD, no gen.",
    unchecked='(c-) ViTKD+NKD, no NaN guard',
    no_metrics='(cm) ViTKD+NKD, no metrics',
    floor_bf16='(b16) floor, bf16 teacher',
    vitkd_bf16='(c16) ViTKD, bf16 teacher',
    vitkd_nkd_bf16='(c16) ViTKD+NKD, bf16 teacher')
WIDTH = 31  # of the arm labels in the report
DISTILL_ARMS = ('vitkd', 'vitkd_nkd', 'vitkd_bf16', 'vitkd_nkd_bf16')
#: The arms with ratios, and the references they are divided by.
RATIO_ARMS = ('floor_bf16', ) + DISTILL_ARMS
RATIO_REFS = dict(floor='/(b)', floor_bf16='/(b16)', student='/(a)')
BF16_SUFFIX = '_bf16'

# The tiny pair: the shipped configs with these backbones and inputs.
TINY = dict(
    img_size=32,
    patch_size=4,  # 8 x 8 tokens
    num_classes=100,
    student=dict(
        embed_dims=64, num_layers=4, num_heads=2, feedforward_channels=256),
    teacher=dict(
        embed_dims=128, num_layers=6, num_heads=4, feedforward_channels=512))


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
    # Internal: run one arm in this process and write its figures to FILE.
    parser.add_argument('--worker', choices=list(ARMS), help=argparse.SUPPRESS)
    parser.add_argument('--worker-out', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.amp and not args.device.startswith('cuda'):
        parser.error('--amp needs a CUDA device (mmengine AmpOptimWrapper).')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error('--device cuda, but torch sees no CUDA device.')
    if min(args.batch_size, args.steps, args.rounds) < 1 or args.warmup < 0:
        parser.error('--batch-size, --steps and --rounds must be >= 1, '
                     '--warmup >= 0.')
    return args


# --------------------------------------------------------------- configs


def shrink_to_tiny(cfg) -> None:
    """Turn a DeiT distillation config into the tiny pair, in place."""
    model = cfg.model
    grid = TINY['img_size'] // TINY['patch_size']
    for key in ('architecture', 'teacher'):
        arch = TINY['student' if key == 'architecture' else 'teacher']
        model[key].backbone.update(
            arch=dict(arch),
            img_size=TINY['img_size'],
            patch_size=TINY['patch_size'])
        model[key].head.update(
            in_channels=arch['embed_dims'], num_classes=TINY['num_classes'])
    for preprocessor in (model.architecture.get('data_preprocessor'),
                         model.get('data_preprocessor'),
                         cfg.get('data_preprocessor')):
        if preprocessor is not None:
            preprocessor.num_classes = TINY['num_classes']
    # the preset's arguments, or the connectors of a listing
    distiller = model.distiller
    for connector in (distiller, *distiller.get('connectors', {}).values()):
        for key, value in (('student_dims', TINY['student']['embed_dims']),
                           ('teacher_dims', TINY['teacher']['embed_dims']),
                           ('patch_resolution', grid)):
            if key in connector:
                connector[key] = value


def load_config(pair: str, arm: str):
    """The config of ``arm`` (students and teachers: the ViTKD config's;
    a ``*_bf16`` arm's with ``teacher_precision='bf16'``)."""
    from mmengine.config import Config
    base = arm.removesuffix(BF16_SUFFIX)
    cfg = Config.fromfile(
        CONFIGS['vitkd_nkd' if base in ('vitkd_nkd', 'no_generator',
                                        'unchecked',
                                        'no_metrics') else 'vitkd'])
    cfg.model.teacher_ckpt = None
    if arm == 'unchecked':
        cfg.model.check_finite = False
    if arm == 'no_metrics':
        cfg.model.distiller.alignment_metrics = False
    if arm.endswith(BF16_SUFFIX):
        cfg.model.teacher_precision = 'bf16'
    # As the Runner does: a model without its own takes the config's.
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    if pair == 'tiny':
        shrink_to_tiny(cfg)
    return cfg


# ---------------------------------------------------------------- models


def build_floor(cfg):
    """(b): ``SingleTeacherDistill`` with a distiller that records nothing
    and has no loss: the teacher's full forward under no_grad, then the
    student's own training step; the least any distiller pays."""
    from mmpretrain.registry import MODELS
    return MODELS.build(
        dict(
            type='vitkd_mm.SingleTeacherDistill',
            architecture=student_config(cfg),
            teacher=cfg.model.teacher,
            teacher_precision=cfg.model.get('teacher_precision', 'fp32'),
            distiller=dict(type='ConfigurableDistiller')))


class PassThroughGenerator(torch.nn.Module):
    """Stands in for a generator: returns the masked grid unchanged."""

    def forward(self, x, visible):
        return x


def remove_generators(model) -> int:
    """Replace the generator of every ``GenerationConnector`` in ``model``
    by a pass-through; return how many were replaced."""
    from vitkd_mm.models.connectors import GenerationConnector
    connectors = [
        m for m in model.modules() if isinstance(m, GenerationConnector)
    ]
    for connector in connectors:
        connector.generator = PassThroughGenerator()
    return len(connectors)


def student_config(cfg):
    """The student as a stock config builds it: its own data preprocessor,
    else the one the distiller hands it (the Runner's top-level one)."""
    student = cfg.model.architecture.copy()
    preprocessor = cfg.model.get('data_preprocessor')
    if isinstance(preprocessor, dict):
        student.setdefault('data_preprocessor', preprocessor)
    return student


def build_arm(cfg, arm: str):
    from mmpretrain.registry import MODELS
    if arm == 'student':
        return MODELS.build(student_config(cfg))
    if arm.removesuffix(BF16_SUFFIX) == 'floor':
        return build_floor(cfg)
    model = MODELS.build(cfg.model)
    if arm == 'no_generator' and remove_generators(model) == 0:
        raise RuntimeError('no GenerationConnector in the ViTKD+NKD config')
    return model


def build_optim_wrapper(cfg, model, amp):
    from mmengine.optim import build_optim_wrapper as build
    optim_cfg = cfg.get('optim_wrapper') or dict(
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
    optim_cfg = optim_cfg.copy()
    if amp:
        optim_cfg.update(
            type='AmpOptimWrapper',
            dtype='bfloat16' if amp == 'bf16' else 'float16',
            loss_scale='dynamic')
    return build(model, optim_cfg)


def make_batch(images, num_classes):
    """A data batch as the dataloader yields it: uint8 images, labels."""
    from mmpretrain.structures import DataSample
    return dict(
        inputs=images,
        data_samples=[
            DataSample().set_gt_label(i % num_classes)
            for i in range(len(images))
        ])


def augment_names(model):
    augments = getattr(model.data_preprocessor, 'batch_augments', None)
    if augments is None:
        return 'none'
    return '+'.join(type(a).__name__ for a in augments.augments)


# ---------------------------------------------------------------- worker


def _proc_status_mib(key: str) -> float:
    """A ``/proc/self/status`` memory entry (``VmHWM``, ``VmRSS``) in MiB."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float('nan')


def reset_peak_rss() -> None:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0).

    Where that is refused, VmHWM stays the peak since the process started.
    """
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        pass


def run_worker(args) -> dict:
    """Run one arm in this process and return its figures.

    ``peak_mib`` is the peak over the steps (CUDA: allocated memory; CPU:
    process RSS), ``step_mib`` that peak minus the memory held before the
    first step (the weights, and on CPU the libraries too).
    """
    from mmengine.registry import init_default_scope

    import vitkd_mm  # noqa: F401
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = load_config(args.pair, args.worker)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    device = torch.device(args.device)
    model = build_arm(cfg, args.worker).to(device)
    model.train()
    optim_wrapper = build_optim_wrapper(cfg, model, args.amp)

    student = cfg.model.architecture
    size = student.backbone.img_size
    num_classes = student.head.num_classes
    generator = torch.Generator().manual_seed(0)
    images = [
        torch.randint(
            0, 256, (3, size, size), dtype=torch.uint8, generator=generator)
        for _ in range(args.batch_size)
    ]
    cuda = device.type == 'cuda'
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device) / 2**20
    else:
        reset_peak_rss()
        base = _proc_status_mib('VmRSS')
    times, cpu_times = [], []
    for step in range(args.warmup + args.steps):
        data = make_batch(images, num_classes)
        if cuda:
            torch.cuda.synchronize(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        model.train_step(data, optim_wrapper)
        if cuda:
            torch.cuda.synchronize(device)
        if step >= args.warmup:
            times.append((time.perf_counter() - start) * 1000)
            cpu_times.append((time.process_time() - cpu_start) * 1000)
    if cuda:
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = _proc_status_mib('VmHWM')
    return dict(
        arm=args.worker,
        times_ms=times,
        cpu_times_ms=cpu_times,
        peak_mib=peak,
        step_mib=peak - base,
        augments=augment_names(model))


# ---------------------------------------------------------------- parent


def run_arm_subprocess(args, arm: str) -> dict:
    """Run one arm in a fresh process; its figures, as :func:`run_worker`
    returns them (the worker writes them to a JSON file)."""
    options = dict(
        pair=args.pair,
        batch_size=args.batch_size,
        steps=args.steps,
        warmup=args.warmup,
        device=args.device,
        amp=args.amp,
        threads=args.threads)
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    if args.threads:
        env.update(
            OMP_NUM_THREADS=str(args.threads),
            MKL_NUM_THREADS=str(args.threads))
    with tempfile.TemporaryDirectory() as tmp:
        out = osp.join(tmp, f'{arm}.json')
        command = [
            sys.executable,
            osp.abspath(__file__), '--worker', arm, '--worker-out', out
        ]
        for key, value in options.items():
            if value is not None:
                command += ['--' + key.replace('_', '-'), str(value)]
        proc = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=REPO_ROOT)
        if proc.returncode == 0 and osp.isfile(out):
            with open(out) as f:
                return json.load(f)
    raise RuntimeError(f'arm {arm!r} failed (exit code {proc.returncode}):'
                       f'\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}')


def cpu_bf16_report(args) -> Optional[str]:
    """What the CPU offers for bf16 (None on CUDA)."""
    if args.device.startswith('cuda'):
        return None
    from vitkd_mm.utils import CPU_BF16_FLAGS, cpu_bf16_flags
    flags = cpu_bf16_flags()
    if flags:
        return 'native bf16: ' + ', '.join(flags)
    return (f"no native bf16 (none of {', '.join(CPU_BF16_FLAGS)}): the "
            'bf16 teacher is emulated, these bf16 figures do not show its '
            'gain')


def summarize(runs: list) -> dict:
    """Pool the steps of all rounds of one arm."""
    times = [t for r in runs for t in r['times_ms']]
    cpu_times = [t for r in runs for t in r['cpu_times_ms']]
    return dict(
        time=median(times),
        min_time=min(times),
        cpu_time=median(cpu_times),
        peak=max(r['peak_mib'] for r in runs),
        step=max(r['step_mib'] for r in runs),
        augments=runs[0]['augments'],
        times_ms=times,
        cpu_times_ms=cpu_times)


def ratio(value: float, reference: float) -> Optional[float]:
    """``value / reference``, None where the reference is not positive."""
    return value / reference if reference > 0 else None


def analyse(args, results: dict) -> dict:
    """The benchmark's figures as data.

    Args:
        args (Namespace): The parsed arguments.
        results (dict): ``{arm: [worker figures per round]}``.

    Returns:
        dict: The setting (pair, device, precision, batch, steps, ...);
        ``arms``: per arm its label and pooled figures (``time``,
        ``min_time``, ``cpu_time`` in ms, ``peak``, ``step`` in MiB,
        ``augments``, the step times); ``ratios``: ``{arm: {'floor' |
        'floor_bf16' | 'student': {metric: ratio}}}`` for the arms of
        :data:`RATIO_ARMS`; ``cpu_bf16``: :func:`cpu_bf16_report` (None on
        CUDA); ``split``: per time
        metric, ViTKD+NKD's ``(c' - b)/b`` (``rest``) and ``(c - c')/b``
        (``generator``); ``guard``: per time metric, ViTKD+NKD's
        ``(c - c-)/c-``, the non-finite-loss guard's share of a step.
    """
    cuda = args.device.startswith('cuda')
    threads = args.threads or torch.get_num_threads()
    if cuda:
        precision = f'AMP {args.amp}' if args.amp else 'fp32'
    else:
        precision = f'fp32, {threads} thread(s)'
    arms = {
        arm: dict(label=ARMS[arm], **summarize(runs))
        for arm, runs in results.items()
    }
    metrics = ['time', 'peak', 'step'
               ] if cuda else ['time', 'cpu_time', 'peak', 'step']
    ratios = {
        arm: {
            ref: {
                key: ratio(arms[arm][key], arms[ref][key])
                for key in metrics
            }
            for ref in RATIO_REFS
        }
        for arm in RATIO_ARMS
    }
    split, guard, alignment = {}, {}, {}
    for key in metrics[:-2]:  # the time metrics
        floor, full, rest, unchecked, unmeasured = (
            arms[arm][key] for arm in ('floor', 'vitkd_nkd', 'no_generator',
                                       'unchecked', 'no_metrics'))
        split[key] = dict(
            rest=(rest - floor) / floor, generator=(full - rest) / floor)
        guard[key] = (full - unchecked) / unchecked
        alignment[key] = (full - unmeasured) / unmeasured
    return dict(
        pair=args.pair,
        device=args.device,
        device_name=device_name(args.device),
        cpu_bf16=cpu_bf16_report(args),
        precision=precision,
        torch=torch.__version__,
        batch_size=args.batch_size,
        warmup=args.warmup,
        steps=args.steps,
        rounds=args.rounds,
        arms=arms,
        ratios=ratios,
        split=split,
        guard=guard,
        alignment_metrics=alignment)


METRIC_LABELS = {
    'time': 'ms/step',
    'cpu_time': 'cpu ms',
    'peak': 'peak memory',
    'step': 'step memory'
}


def format_ratio(value: Optional[float]) -> str:
    return 'n/a' if value is None else f'{value:.3f}'


def format_report(report: dict) -> str:
    """The table of figures per arm and of the ratios (c)/(b), (c)/(a)."""
    cuda = report['device'].startswith('cuda')
    if cuda:
        memory = ('peak = torch.cuda.max_memory_allocated, step = peak - '
                  'allocated before the first step')
    else:
        memory = ('peak = process peak RSS (VmHWM), step = peak - RSS '
                  'before the first step')
    lines = [
        f'pair {report["pair"]} | {report["device"]}: '
        f'{report["device_name"]} | {report["precision"]} | '
        f'torch {report["torch"]}',
        f'batch {report["batch_size"]} | {report["warmup"]} warm-up + '
        f'{report["steps"]} timed steps x {report["rounds"]} round(s) | '
        'ms/step: median (min) of wall time' +
        ('' if cuda else '; cpu ms: median process CPU time'),
        f'memory in MiB: {memory}'
    ] + ([f'cpu: {report["cpu_bf16"]}'] if report['cpu_bf16'] else []) + ['']
    header = (f'{"arm":<{WIDTH}}{"ms/step":>9}{"(min)":>9}' +
              ('' if cuda else f'{"cpu ms":>9}') +
              f'{"peak":>8}{"step":>8}  batch augments')
    lines += [header, '-' * len(header)]
    for s in report['arms'].values():
        lines.append(f'{s["label"]:<{WIDTH}}{s["time"]:>9.1f}'
                     f'{s["min_time"]:>9.1f}' +
                     ('' if cuda else f'{s["cpu_time"]:>9.1f}') +
                     f'{s["peak"]:>8.0f}{s["step"]:>8.0f}  {s["augments"]}')
    ratios = report['ratios']
    metrics = list(ratios[RATIO_ARMS[0]]['floor'])
    for key in metrics:
        header = f'{"ratio of " + METRIC_LABELS[key]:<{WIDTH}}' + ''.join(
            f'{label:>9}' for label in RATIO_REFS.values())
        lines += ['', header, '-' * len(header)]
        for arm in RATIO_ARMS:
            lines.append(f'{ARMS[arm]:<{WIDTH}}' +
                         ''.join(f'{format_ratio(ratios[arm][ref][key]):>9}'
                                 for ref in RATIO_REFS))
    lines += [
        '', "split of ViTKD+NKD's (c)/(b) = 1 + (c' - b)/b + (c - c')/b:"
    ]
    for key, split in report['split'].items():
        lines.append(f'{METRIC_LABELS[key]:<{WIDTH}}  rest of the distiller '
                     f'{split["rest"]:+.3f}, generator '
                     f'{split["generator"]:+.3f}')
    lines += ['', "the NaN guard's share of ViTKD+NKD's step, (c - c-)/c-:"]
    for key, share in report['guard'].items():
        lines.append(f'{METRIC_LABELS[key]:<{WIDTH}}  {share:+.4f}')
    lines += ['', "the alignment metrics' share, (c - cm)/cm:"]
    for key, share in report['alignment_metrics'].items():
        lines.append(f'{METRIC_LABELS[key]:<{WIDTH}}  {share:+.4f}')
    return '\n'.join(lines)


def main(argv=None) -> Optional[dict]:
    """Run the benchmark; return its figures (see :func:`analyse`).

    In worker mode (internal), run one arm and write its figures to the
    ``--worker-out`` file instead.
    """
    args = parse_args(argv)
    if args.worker:
        with open(args.worker_out, 'w') as f:
            json.dump(run_worker(args), f)
        return None
    results = {arm: [] for arm in ARMS}
    for _ in range(args.rounds):
        for arm in ARMS:
            results[arm].append(run_arm_subprocess(args, arm))
    report = analyse(args, results)
    print(format_report(report))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == '__main__':
    main()
