"""Tables, JSON and plots of the Fashion-MNIST kit, from finished runs.

Reads what :mod:`.run_arms` left: the mode's ``kit.json``
(mode, epochs, command, commit, teachers, ``{arm: seeds}``) and each run's
``result.json``, or a results JSON this script wrote before; writes
``OUT_DIR/NAME.md`` (mean +- std per arm, the paper's claims checked),
``NAME.json`` (raw results with seeds and commands) and PNGs (accuracy
per arm, validation accuracy over epochs, and the alignment metrics over
epochs of the runs that recorded them). Nothing is trained.

Examples:
    python -m tools.fashion_mnist.report work_dirs/fashion_mnist/full_15e
    python -m tools.fashion_mnist.report docs/fashion_mnist_results.json \
        --out-dir /tmp/report
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys

if __name__ == '__main__' and not __package__:
    sys.exit('Run the report as a module, from the repository root: '
             'python -m tools.fashion_mnist.report ...')

from .alignment import alignment_markdown, write_alignment_plot
from .arms import ARMS, CLAIMS, PRETRAININGS
from .plots import write_plots

KIT_FILE = 'kit.json'


def fmt(top1):
    """A top-1 accuracy for text, which may be unknown."""
    return 'unknown' if top1 is None else f'{top1:.2f} %'


def summarize(results):
    """Per arm: mean and std of the final top-1 over seeds."""
    summary = {}
    for arm, runs in results.items():
        accs = [run['top1'] for run in runs]
        mean = statistics.mean(accs)
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        times = [run['sec_per_iter'] for run in runs if run['sec_per_iter']]
        cpu = [run['cpu_s'] for run in runs if run.get('cpu_s')]
        summary[arm] = dict(
            mean=mean,
            std=std,
            n=len(accs),
            seeds=[run['seed'] for run in runs],
            top1=accs,
            sec_per_iter=sum(times) / len(times) if times else None,
            cpu_s=sum(cpu) / len(cpu) if cpu else None)
    return summary


def claim_lines(summary):
    """Check the claims (:data:`CLAIMS`) this run can test, one line each."""
    lines = []
    for claim in CLAIMS:
        if claim.arm not in summary or claim.reference not in summary:
            continue
        arm, reference = summary[claim.arm], summary[claim.reference]
        delta = arm['mean'] - reference['mean']
        if claim.kind == 'matches':
            verdict, note = _check_matches(delta, reference, claim.reference)
        else:
            verdict, note = _check_beats(delta, arm, reference)
        lines.append(f'- {claim.text}: {verdict} ({claim.arm} '
                     f'{arm["mean"]:.2f} vs {claim.reference} '
                     f'{reference["mean"]:.2f}, {delta:+.2f} points; {note})')
    return lines


def _check_beats(delta, arm, reference):
    """Verdict and noise note of "``arm`` beats ``reference``"."""
    verdict = 'holds' if delta > 0 else 'does NOT hold'
    # The spread over seeds of the arms that have several seeds.
    stds = [side['std'] for side in (arm, reference) if side['n'] > 1]
    if not stds:
        return verdict, 'single seed: no noise estimate'
    if abs(delta) > max(stds):
        return verdict, f'|difference| > seed std ({max(stds):.2f})'
    return verdict, f'within seed noise (std {max(stds):.2f})'


def _check_matches(delta, reference, name):
    """Verdict and criterion of "within one seed std of ``reference``, or
    above"; a single-seed reference gives no std, so only "or above"."""
    if reference['n'] < 2:
        return ('holds' if delta >= 0 else 'not shown',
                f'single seed of {name}: no noise estimate')
    std = reference['std']
    verdict = 'holds' if delta >= -std else 'does NOT hold'
    return verdict, f'needs at least -{std:.2f}: one seed std of {name}'


def run_cost(runs):
    """Wall and CPU minutes summed over runs, as recorded when they ran."""
    wall = sum(run.get('wall_s') or 0 for run in runs) / 60
    cpu = sum(run.get('cpu_s') or 0 for run in runs) / 60
    return f'{wall:.1f} min wall, {cpu:.1f} CPU-min'


def teacher_line(name, teacher):
    """One line on a teacher: checkpoint, top-1, how it was trained."""
    label = 'Teacher' if name == 'teacher' else f'Teacher `{name}`'
    line = (f'{label}: `{teacher["checkpoint"]}`, top-1 '
            f'{fmt(teacher["top1"])}')
    if 'command' in teacher:
        line += (f', trained once by `{teacher["command"]}` on '
                 f'{teacher.get("device", "?")} ({run_cost([teacher])})')
    return line + '.'


def pretraining_lines(record):
    """One line per label-free pretraining stage of the record."""
    lines = []
    for stage, runs in record.get('pretrainings', {}).items():
        spec = PRETRAININGS.get(stage[len('pretrain_'):])
        what = f'{spec.description}, {spec.epochs} epochs' if spec else stage
        losses = ', '.join(f'{run["final_loss"]:.3f}' for run in runs)
        lines += [
            f'Label-free pretraining `{stage}`: {what}; one per seed '
            f'({", ".join(str(run["seed"]) for run in runs)}), e.g. '
            f'`{runs[0]["command"]}`; final loss {losses}; '
            f'{run_cost(runs)} in total.', ''
        ]
    return lines


def markdown(name, record, summary, results):
    """The report's markdown: setup, table, claims."""
    # the student alone: the first arm without teacher and pretraining
    alone = next(
        (arm for arm in summary if arm in ARMS and ARMS[arm].teacher is None
         and ARMS[arm].pretraining is None), None)
    student = summary.get(alone)
    rows = []
    for arm, s in summary.items():
        delta = (f'{s["mean"] - student["mean"]:+.2f}'
                 if student and arm != alone else '')
        std = f' ± {s["std"]:.2f}' if s['n'] > 1 else ''
        step = f'{s["sec_per_iter"]:.3f}' if s['sec_per_iter'] else ''
        cpu = f'{s["cpu_s"]:.0f}' if s['cpu_s'] else ''
        description = ARMS[arm].description if arm in ARMS else ''
        rows.append(f'| {arm} | {description} | {s["mean"]:.2f}{std} | '
                    f'{s["n"]} ({", ".join(map(str, s["seeds"]))}) | '
                    f'{delta} | {step} | {cpu} |')
    runs = [run for arm_runs in results.values() for run in arm_runs]
    devices = sorted({run.get('device', '?') for run in runs})
    teachers = [
        line for teacher, rec in record['teachers'].items()
        for line in (teacher_line(teacher, rec), '')
    ]
    lines = [
        f'# Fashion-MNIST reproduction: {record["mode"]} mode', '',
        f'Produced by `{record.get("command", "?")}` at commit '
        f'`{record.get("commit", "?")}` '
        '(see [fashion_mnist.md](fashion_mnist.md) for the setup). Student: '
        f'ViT 48-dim, 6 blocks, trained on '
        f'{record.get("data", "the first 10k training images")} for '
        f'{record["epochs"]} epochs; teacher: ViT 96-dim, 6 blocks, trained '
        'on all 60k images. Top-1 on the 10k test images after the last '
        'epoch, mean ± sample std over seeds. Commands, curves and seeds of '
        f'every run: [{name}.json]({name}.json).', '', *teachers,
        *pretraining_lines(record),
        f'Student runs: {len(runs)} on {"; ".join(devices)}, '
        f'{run_cost(runs)} in total.', '',
        '| arm | distilled | top-1 (%) | seeds | Δ vs student | s/iter | '
        'CPU s/run |', '|---|---|---|---|---|---|---|', *rows, '',
        's/iter: mean wall time of a training iteration (batch 128) as the '
        'Runner logged it; CPU s/run: CPU seconds of a whole run (training, '
        'validation every epoch, data workers, start-up). Wall times depend '
        'on what else ran on the machine; CPU seconds much less.', '',
        '## The paper\'s claims, checked', '', *claim_lines(summary), '',
        *alignment_markdown(results)
    ]
    return '\n'.join(lines)


def report_name(mode):
    """``fashion_mnist_results`` for the full mode, else ``..._<mode>``."""
    return 'fashion_mnist_results' + ('' if mode == 'full' else '_' + mode)


def write_report(out_dir, record, results, name=None):
    """Write ``NAME.md``, ``NAME.json`` and the plots of a finished mode.

    Args:
        out_dir (str): Where to write.
        record (dict): The kit record (mode, epochs, device, command,
            commit, invocation_wall_s, teachers).
        results (dict): ``{arm: [run result, ...]}``, in table order.
        name (str, optional): File name stem. Defaults to
            :func:`report_name` of the mode.

    Returns:
        list[str]: The files written.
    """
    name = name or report_name(record['mode'])
    os.makedirs(out_dir, exist_ok=True)
    prefix = osp.join(out_dir, name)
    summary = summarize(results)
    with open(prefix + '.md', 'w') as f:
        f.write(markdown(name, record, summary, results))
    with open(prefix + '.json', 'w') as f:
        json.dump(dict(record, summary=summary, runs=results), f, indent=1)
    plots = write_plots(prefix, summary, results,
                        record['teachers'].get('teacher'))
    plots += write_alignment_plot(prefix, results)
    print('\n'.join(claim_lines(summary)))
    return [prefix + '.md', prefix + '.json', *plots]


def load_kit(mode_dir):
    """The kit record and ``{arm: [run result, ...]}`` of a mode's work dir.

    Raises:
        FileNotFoundError: If the kit record or a planned run's
            ``result.json`` is missing (the run has not finished).
    """
    from .runs import RESULT_FILE, load_result
    path = osp.join(mode_dir, KIT_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} not found: not a work dir of '
            'tools.fashion_mnist.run_arms (WORK_DIR/<mode>_<epochs>e)')
    with open(path) as f:
        record = json.load(f)
    plan = record.pop('plan')
    results = {}
    for arm, seeds in plan.items():
        results[arm] = []
        for seed in seeds:
            work_dir = osp.join(mode_dir, arm, f'seed{seed}')
            result = load_result(work_dir)
            if result is None:
                raise FileNotFoundError(
                    f'{osp.join(work_dir, RESULT_FILE)} not found: {arm} '
                    f'seed {seed} has not finished')
            results[arm].append(result)
    return record, results


def load_results_json(path):
    """The kit record and results of a results JSON written before."""
    with open(path) as f:
        data = json.load(f)
    results = data.pop('runs')
    data.pop('summary')
    if 'teacher' in data:  # written before teachers were named
        data['teachers'] = dict(teacher=data.pop('teacher'))
    return data, results


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Rebuild the Fashion-MNIST report from finished runs')
    parser.add_argument(
        'source',
        help='a mode work dir of run_arms.py (WORK_DIR/<mode>_<epochs>e) '
        'or a results .json')
    parser.add_argument(
        '--out-dir', default='docs', help='where tables, JSON, plots go')
    parser.add_argument(
        '--name',
        help='file name stem (default: fashion_mnist_results, '
        '_<mode> appended except in full mode)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.source.endswith('.json'):
        record, results = load_results_json(args.source)
    else:
        record, results = load_kit(args.source)
    written = write_report(args.out_dir, record, results, args.name)
    print(f'Wrote {", ".join(written)}')
    return written


if __name__ == '__main__':
    main()
