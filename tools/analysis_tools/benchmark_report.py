"""The step benchmark's figures as data, and their tables."""
import io
from statistics import median
from typing import Optional

import torch
from benchmark_arms import ARMS, RATIO_ARMS, RATIO_REFS
from rich import box
from rich.console import Console
from rich.table import Table

from vitkd_mm.utils import device_name


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
    time_metrics = ['time'] if cuda else ['time', 'cpu_time']
    metrics = time_metrics + ['peak', 'step']
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
    for key in time_metrics:
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


def _table(title: str, columns: list, rows: list) -> Table:
    """A plain rich table: first column left-aligned, the others right."""
    table = Table(title=title, title_justify='left', box=box.SIMPLE_HEAD)
    for i, column in enumerate(columns):
        table.add_column(column, justify='left' if i == 0 else 'right')
    for row in rows:
        table.add_row(*row)
    return table


def format_report(report: dict) -> str:
    """The setting, a table of figures per arm, one of the ratios per
    metric, and the split of ViTKD+NKD's (c)/(b), as text."""
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
    ] + ([f'cpu: {report["cpu_bf16"]}'] if report['cpu_bf16'] else [])
    console = Console(
        file=io.StringIO(), width=120, color_system=None, highlight=False)
    console.print('\n'.join(lines), soft_wrap=True)
    columns = [
        'arm', 'ms/step', '(min)', *([] if cuda else ['cpu ms']), 'peak',
        'step', 'batch augments'
    ]
    console.print(
        _table('', columns, [[
            s['label'], f'{s["time"]:.1f}', f'{s["min_time"]:.1f}',
            *([] if cuda else [f'{s["cpu_time"]:.1f}']), f'{s["peak"]:.0f}',
            f'{s["step"]:.0f}', s['augments']
        ] for s in report['arms'].values()]))
    ratios = report['ratios']
    for key in ratios[RATIO_ARMS[0]]['floor']:
        console.print(
            _table(
                f'ratio of {METRIC_LABELS[key]}',
                ['arm', *RATIO_REFS.values()],
                [[ARMS[arm]] +
                 [format_ratio(ratios[arm][ref][key]) for ref in RATIO_REFS]
                 for arm in RATIO_ARMS]))
    lines = ["split of ViTKD+NKD's (c)/(b) = 1 + (c' - b)/b + (c - c')/b:"]
    lines += [
        f'  {METRIC_LABELS[key]}: rest of the distiller '
        f'{split["rest"]:+.3f}, generator {split["generator"]:+.3f}'
        for key, split in report['split'].items()
    ]
    lines += ["the NaN guard's share of ViTKD+NKD's step, (c - c-)/c-:"]
    lines += [
        f'  {METRIC_LABELS[key]}: {share:+.4f}'
        for key, share in report['guard'].items()
    ]
    lines += ["the alignment metrics' share, (c - cm)/cm:"]
    lines += [
        f'  {METRIC_LABELS[key]}: {share:+.4f}'
        for key, share in report['alignment_metrics'].items()
    ]
    console.print('\n'.join(lines), soft_wrap=True)
    text = console.file.getvalue()
    return '\n'.join(line.rstrip() for line in text.splitlines()).strip()
