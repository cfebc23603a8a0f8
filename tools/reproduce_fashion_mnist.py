"""Reproduce ViTKD and NKD on Fashion-MNIST with small ViTs, in one command.

Every run is a real ``tools/train.py`` training (mmengine's Runner on the
configs in ``configs/vitkd/fashion-mnist``), one subprocess per run, seeded
with ``randomness.seed``. The script

1. prepares ``data/fashion_mnist`` if missing (tools/prepare_fashion_mnist.py);
2. takes the teacher (96-dim ViT, all 60k training images): the shipped
   ``checkpoints/fashion_mnist/vit-d96_teacher_fashion-mnist.pth`` if
   present, else trains it once in ``WORK_DIR/teacher_<epochs>e`` and reuses
   it in every later run and mode;
3. trains every arm of the chosen mode for its seeds, all arms with the same
   recipe (10k training images, same epochs, same seeds);
4. writes a markdown table (mean +- std), a JSON of the raw results with
   seeds and commands, and PNG plots (accuracy per arm, validation accuracy
   over epochs).

Finished runs (``result.json`` in their work dir) are reused, so an
interrupted kit resumes where it stopped. Runs use CUDA when available.

Modes:
    --demo   the student alone and the ViTKD+NKD student, 5 epochs, seed 0;
             prints both accuracies.
    --quick  the four main arms (student, NKD, ViTKD, ViTKD+NKD), seed 0,
             10 epochs.
    (none)   full: the four main arms for 3 seeds and the five ablations for
             seed 0, 15 epochs.

Examples:
    python tools/reproduce_fashion_mnist.py --demo
    python tools/reproduce_fashion_mnist.py --quick
    python tools/reproduce_fashion_mnist.py
"""
import argparse
import glob
import json
import os
import os.path as osp
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools'))
from prepare_fashion_mnist import (DEFAULT_OUT, DEFAULT_SRC,  # noqa: E402
                                   download, is_prepared, prepare)

CONFIG_DIR = osp.join('configs', 'vitkd', 'fashion-mnist')
TEACHER_CONFIG = 'vit-d96_teacher_fashion-mnist.py'
#: A teacher shipped with the project (used when present, see --help).
SHIPPED_TEACHER = osp.join('checkpoints', 'fashion_mnist',
                           'vit-d96_teacher_fashion-mnist.pth')

#: arm -> (config, what is distilled). Order = order in tables and plots.
ARMS = OrderedDict([
    ('student', ('vit-d48_fashion-mnist.py', 'none (student alone)')),
    ('nkd', ('vit-d48_nkd_fashion-mnist.py', 'NKD on logits')),
    ('vitkd', ('vit-d48_vitkd_fashion-mnist.py',
               'mimic blocks 0, 1 + generate deep (conv)')),
    ('vitkd-nkd', ('vit-d48_vitkd-nkd_fashion-mnist.py', 'ViTKD + NKD')),
    ('vitkd-deep-mimic', ('vit-d48_vitkd-deep-mimic_fashion-mnist.py',
                          'mimic blocks 0, 1 + mimic deep')),
    ('vitkd-shallow-only', ('vit-d48_vitkd-shallow-only_fashion-mnist.py',
                            'mimic blocks 0, 1 only')),
    ('vitkd-deep-only', ('vit-d48_vitkd-deep-only_fashion-mnist.py',
                         'generate deep (conv) only')),
    ('vitkd-gen-self-attn', ('vit-d48_vitkd-gen-self-attn_fashion-mnist.py',
                             'ViTKD, self-attention generator')),
    ('vitkd-gen-cross-attn', ('vit-d48_vitkd-gen-cross-attn_fashion-mnist.py',
                              'ViTKD, cross-attention generator')),
])
MAIN_ARMS = ['student', 'nkd', 'vitkd', 'vitkd-nkd']
ABLATION_ARMS = [arm for arm in ARMS if arm not in MAIN_ARMS]

#: mode -> (epochs, {arm: seeds}).
MODES = {
    'demo': (5, OrderedDict([('student', [0]), ('vitkd-nkd', [0])])),
    'quick': (10, OrderedDict((arm, [0]) for arm in MAIN_ARMS)),
    'full': (15,
             OrderedDict([(arm, [0, 1, 2]) for arm in MAIN_ARMS] +
                         [(arm, [0]) for arm in ABLATION_ARMS])),
}

#: The paper's claims this kit can check: (description, better, worse).
CLAIMS = [
    ('ViTKD beats the student alone', 'vitkd', 'student'),
    ('NKD beats the student alone', 'nkd', 'student'),
    ('ViTKD+NKD beats ViTKD (complementary)', 'vitkd-nkd', 'vitkd'),
    ('ViTKD+NKD beats NKD (complementary)', 'vitkd-nkd', 'nkd'),
    ('deep: generating beats mimicking', 'vitkd', 'vitkd-deep-mimic'),
    ('shallow mimic adds to deep generation', 'vitkd', 'vitkd-deep-only'),
    ('deep generation adds to shallow mimic', 'vitkd', 'vitkd-shallow-only'),
    ('conv generator beats self-attention', 'vitkd', 'vitkd-gen-self-attn'),
    ('conv generator beats cross-attention', 'vitkd', 'vitkd-gen-cross-attn'),
]


def device_name(env=None):
    """The device the runs train on, in words."""
    import torch
    if torch.cuda.is_available():
        return 'cuda: ' + torch.cuda.get_device_name(0)
    env = os.environ if env is None else env
    threads = env.get('OMP_NUM_THREADS', str(torch.get_num_threads()))
    return (f'cpu: {platform.processor() or platform.machine()}, '
            f'{os.cpu_count()} cores, OMP_NUM_THREADS={threads}')


def source_revision():
    """The git commit the kit ran from (``+modified`` if tracked files were
    changed), or None outside a git checkout."""
    try:
        commit = subprocess.run(['git', 'rev-parse', 'HEAD'],
                                capture_output=True, text=True,
                                check=True).stdout.strip()
        changed = subprocess.run(
            ['git', 'status', '--porcelain', '--untracked-files=no'],
            capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ('+modified' if changed else '')


def read_scalars(work_dir):
    """Validation curve and mean seconds per training iteration of a run.

    Reads the ``vis_data/scalars.json`` the Runner's LocalVisBackend wrote
    in the newest timestamped folder of ``work_dir``.
    """
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        raise FileNotFoundError(f'no vis_data/scalars.json in {work_dir}')
    curve, iter_times = [], []
    with open(files[-1]) as f:
        for line in f:
            record = json.loads(line)
            if 'accuracy/top1' in record:
                curve.append([record['step'], record['accuracy/top1']])
            elif 'time' in record and 'lr' in record:
                iter_times.append(record['time'])
    if not curve:
        raise RuntimeError(f'no validation accuracy logged in {files[-1]}')
    sec_per_iter = sum(iter_times) / len(iter_times) if iter_times else None
    return curve, sec_per_iter


_RUNNING = set()  # process ids (= group ids) of the runs in progress


def kill_runs():
    """End every run in progress with its dataloader workers."""
    for pid in list(_RUNNING):
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def run_plan(jobs, num_runs):
    """How many runs train at once, and the environment each runs in.

    ``jobs=None`` picks the default: on a CPU-only machine one run per core
    (at most ``num_runs``), each with ``OMP_NUM_THREADS`` = its share of the
    cores unless the caller set it (these small ViTs train faster as parallel
    1-thread runs than one after another on all cores); with a GPU one run.
    """
    import torch
    env = dict(os.environ)
    if torch.cuda.is_available():
        return jobs or 1, env
    cores = os.cpu_count() or 1
    jobs = jobs or max(1, min(cores, num_runs))
    env.setdefault('OMP_NUM_THREADS', str(max(1, cores // jobs)))
    return jobs, env


def train(name, config, work_dir, seed, cfg_options, python, env=None):
    """Train one config (or reuse a finished run) and return its result.

    Args:
        name (str): Name of the run, for the progress line.
        config (str): Config path, relative to the repo root.
        work_dir (str): The run's work dir.
        seed (int): ``randomness.seed``.
        cfg_options (list[str]): Further ``key=value`` overrides.
        python (str): The Python interpreter to run tools/train.py with.
        env (dict, optional): Environment of the run. Defaults to this
            process's.

    Returns:
        dict: config, seed, command, final top-1, curve, s/iter, wall and
        CPU time, device, work dir.
    """
    result_file = osp.join(work_dir, 'result.json')
    if osp.isfile(result_file):
        with open(result_file) as f:
            result = json.load(f)
        print(f'  {name}: reused {result["top1"]:.2f} % ({work_dir})')
        return result
    os.makedirs(work_dir, exist_ok=True)
    args = [
        'tools/train.py', config, '--work-dir', work_dir, '--cfg-options',
        f'randomness.seed={seed}', *cfg_options
    ]
    command = shlex.join(['python', *args])
    log = osp.join(work_dir, 'train_stdout.log')
    print(f'  {name}: training ... (log: {log})', flush=True)
    start = time.time()
    with open(log, 'w') as f:
        # Own process group, so that an interrupted kit ends the run and its
        # dataloader workers (kill_runs).
        proc = subprocess.Popen([python, *args],
                                stdout=f,
                                stderr=subprocess.STDOUT,
                                env=env,
                                start_new_session=True)
        _RUNNING.add(proc.pid)
        try:
            # wait4: the run's CPU time (dataloader workers included),
            # which unlike wall time does not depend on who shares the CPUs.
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            kill_runs()
            raise
        finally:
            _RUNNING.discard(proc.pid)
    code = os.waitstatus_to_exitcode(status)
    wall = time.time() - start
    if code != 0:
        with open(log) as f:
            tail = ''.join(f.readlines()[-30:])
        raise RuntimeError(f'{name} failed (exit {code}):\n{command}'
                           f'\n--- last lines of {log} ---\n{tail}')
    curve, sec_per_iter = read_scalars(work_dir)
    result = dict(
        config=config,
        seed=seed,
        command=command,
        top1=curve[-1][1],
        curve=curve,
        sec_per_iter=sec_per_iter,
        wall_s=round(wall, 1),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 1),
        device=device_name(env),
        work_dir=work_dir)
    with open(result_file, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'  {name}: top-1 {result["top1"]:.2f} % in {wall / 60:.1f} min',
          flush=True)
    return result


def find_checkpoint(work_dir):
    """The checkpoint the Runner saved last in ``work_dir`` (relative)."""
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return osp.relpath(f.read().strip())


def export_teacher(work_dir, record):
    """Save the trained teacher's weights alone, with its record, to ship.

    Returns:
        str: ``WORK_DIR/vit-d96_teacher_fashion-mnist.pth`` (a plain state
        dict, 2.7 MB; its ``.json`` beside it holds the training record).
    """
    import torch

    from vitkd_mm.utils import safe_torch_load
    path = osp.join(work_dir, osp.splitext(TEACHER_CONFIG)[0] + '.pth')
    if not osp.isfile(path):
        checkpoint = safe_torch_load(find_checkpoint(work_dir), 'cpu')
        torch.save(checkpoint['state_dict'], path)
    with open(osp.splitext(path)[0] + '.json', 'w') as f:
        json.dump(record, f, indent=1)
    return path


def get_teacher(args, root, data_opts, python):
    """The teacher's record and checkpoint: given, shipped, reused or
    trained (in that order of preference)."""
    path = args.teacher_ckpt
    if path is None and not args.train_teacher and osp.isfile(
            SHIPPED_TEACHER):
        path = SHIPPED_TEACHER
    if path:
        teacher = dict(top1=None)
        record = osp.splitext(path)[0] + '.json'
        if osp.isfile(record):
            with open(record) as f:
                teacher = json.load(f)
        teacher['checkpoint'] = path
        print(f'Teacher: {path} (top-1 {fmt(teacher["top1"])})')
        return teacher, path
    from mmengine.config import Config
    config = osp.join(CONFIG_DIR, TEACHER_CONFIG)
    epochs = Config.fromfile(
        config, import_custom_modules=False).train_cfg.max_epochs
    print('Teacher (trained once, reused by every mode):')
    teacher_dir = osp.join(root, f'teacher_{epochs}e')
    teacher = train('teacher', config, teacher_dir, 0, data_opts, python)
    path = export_teacher(teacher_dir, teacher)
    teacher['checkpoint'] = path
    return teacher, path


def fmt(top1):
    """A top-1 accuracy for text, which may be unknown."""
    return 'unknown' if top1 is None else f'{top1:.2f} %'


def mean_std(values):
    """Mean and sample standard deviation (0 for a single value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    var = sum((v - mean)**2 for v in values) / (len(values) - 1)
    return mean, var**0.5


def summarize(results):
    """Per arm: mean and std of the final top-1 over seeds."""
    summary = OrderedDict()
    for arm, runs in results.items():
        accs = [run['top1'] for run in runs]
        mean, std = mean_std(accs)
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
    """Check the paper's claims this run can test, one line each."""
    lines = []
    for text, better, worse in CLAIMS:
        if better not in summary or worse not in summary:
            continue
        b, w = summary[better], summary[worse]
        delta = b['mean'] - w['mean']
        verdict = 'holds' if delta > 0 else 'does NOT hold'
        # The spread over seeds of the arms that have several seeds.
        stds = [arm['std'] for arm in (b, w) if arm['n'] > 1]
        if not stds:
            note = 'single seed: no noise estimate'
        elif abs(delta) > max(stds):
            note = f'|difference| > seed std ({max(stds):.2f})'
        else:
            note = f'within seed noise (std {max(stds):.2f})'
        lines.append(f'- {text}: {verdict} ({better} {b["mean"]:.2f} vs '
                     f'{worse} {w["mean"]:.2f}, {delta:+.2f} points; {note})')
    return lines


def run_cost(runs):
    """Wall and CPU minutes summed over runs, as recorded when they ran."""
    wall = sum(run.get('wall_s') or 0 for run in runs) / 60
    cpu = sum(run.get('cpu_s') or 0 for run in runs) / 60
    return f'{wall:.1f} min wall, {cpu:.1f} CPU-min'


def write_markdown(path, mode, epochs, summary, results, teacher, command,
                   commit):
    student = summary.get('student')
    rows = []
    for arm, s in summary.items():
        delta = (f'{s["mean"] - student["mean"]:+.2f}'
                 if student and arm != 'student' else '')
        std = f' ± {s["std"]:.2f}' if s['n'] > 1 else ''
        step = f'{s["sec_per_iter"]:.3f}' if s['sec_per_iter'] else ''
        cpu = f'{s["cpu_s"]:.0f}' if s['cpu_s'] else ''
        rows.append(f'| {arm} | {ARMS[arm][1]} | {s["mean"]:.2f}{std} | '
                    f'{s["n"]} ({", ".join(map(str, s["seeds"]))}) | '
                    f'{delta} | {step} | {cpu} |')
    runs = [run for arm_runs in results.values() for run in arm_runs]
    devices = sorted({run.get('device', '?') for run in runs})
    teacher_line = (f'Teacher: `{teacher["checkpoint"]}`, top-1 '
                    f'{fmt(teacher["top1"])}')
    if 'command' in teacher:
        teacher_line += (f', trained once by `{teacher["command"]}` on '
                         f'{teacher.get("device", "?")} '
                         f'({run_cost([teacher])})')
    lines = [
        f'# Fashion-MNIST reproduction: {mode} mode', '',
        f'Produced by `{command}` at commit `{commit}` (see '
        '[fashion_mnist.md](fashion_mnist.md) for the setup). Student: ViT '
        '48-dim, 6 blocks, trained on the first 10k training images for '
        f'{epochs} epochs; teacher: ViT 96-dim, 6 blocks, trained on all 60k '
        'images. Top-1 on the 10k test images after the last epoch, mean ± '
        'sample std over seeds. Commands, curves and seeds of every run: '
        f'[{osp.basename(path)[:-3]}.json]({osp.basename(path)[:-3]}.json).',
        '', f'{teacher_line}.', '',
        f'Student runs: {len(runs)} on {"; ".join(devices)}, '
        f'{run_cost(runs)} in total.', '',
        '| arm | distilled | top-1 (%) | seeds | Δ vs student | s/iter | '
        'CPU s/run |', '|---|---|---|---|---|---|---|', *rows, '',
        's/iter: mean wall time of a training iteration (batch 128) as the '
        'Runner logged it; CPU s/run: CPU seconds of a whole run (training, '
        'validation every epoch, data workers, start-up). Wall times depend '
        'on what else ran on the machine; CPU seconds much less.', '',
        '## The paper\'s claims, checked', '', *claim_lines(summary), ''
    ]
    with open(path, 'w') as f:
        f.write('\n'.join(lines))


def write_plots(prefix, summary, results, teacher):
    """Bar chart of the final accuracy per arm and validation curves."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        print('matplotlib not installed: no plots')
        return []
    arms = list(summary)
    fig, ax = plt.subplots(figsize=(1.1 * len(arms) + 2, 4))
    means = [summary[a]['mean'] for a in arms]
    stds = [summary[a]['std'] for a in arms]
    ax.bar(range(len(arms)), means, yerr=stds, capsize=4, color='#8fb3d9')
    for i, arm in enumerate(arms):
        ax.scatter([i] * summary[arm]['n'], summary[arm]['top1'], s=12,
                   color='k', zorder=3)
    high = max(means)
    if teacher['top1'] is not None:
        ax.axhline(teacher['top1'], color='r', ls='--', label='teacher')
        ax.legend(loc='lower right')
        high = max(high, teacher['top1'])
    low = min(min(s['top1']) for s in summary.values())
    ax.set_ylim(low - 2, high + 1)
    ax.set_xticks(range(len(arms)))
    ax.set_xticklabels(arms, rotation=30, ha='right')
    ax.set_ylabel('test top-1 (%)')
    ax.set_title('Student accuracy per arm (bars: mean ± std, dots: seeds)')
    fig.tight_layout()
    bars = prefix + '_accuracy.png'
    fig.savefig(bars, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm in arms:
        curves = [run['curve'] for run in results[arm]]
        epochs = [e for e, _ in curves[0]]
        mean = [
            sum(c[i][1] for c in curves) / len(curves)
            for i in range(len(epochs))
        ]
        ax.plot(epochs, mean, marker='.', lw=2 if arm in MAIN_ARMS else 1,
                ls='-' if arm in MAIN_ARMS else ':', label=arm)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel('epoch')
    ax.set_ylabel('test top-1 (%), mean over seeds')
    ax.set_title('Validation accuracy over epochs')
    ax.grid(alpha=.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    curves_png = prefix + '_curves.png'
    fig.savefig(curves_png, dpi=120)
    plt.close(fig)
    return [bars, curves_png]


def parse_args():
    parser = argparse.ArgumentParser(
        description='Reproduce ViTKD/NKD on Fashion-MNIST (see docstring)')
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        '--quick', action='store_true',
        help='four main arms, one seed, 10 epochs')
    group.add_argument(
        '--demo', action='store_true',
        help='student alone vs ViTKD+NKD, one seed, 5 epochs')
    parser.add_argument(
        '--seeds', type=int, help='number of seeds of the main arms '
        '(default: 3 in full mode, 1 otherwise)')
    parser.add_argument(
        '--epochs', type=int, help='override the epochs of the mode')
    parser.add_argument(
        '--work-dir', default='work_dirs/fashion_mnist',
        help='root of all runs (the teacher: WORK_DIR/teacher_<epochs>e)')
    parser.add_argument(
        '--out-dir', default='docs', help='where tables, JSON, plots go')
    parser.add_argument(
        '--teacher-ckpt',
        help='use this teacher checkpoint instead of training one (its '
        'record, if any, is read from the .json of the same name); default: '
        f'{SHIPPED_TEACHER} if it exists')
    parser.add_argument(
        '--train-teacher', action='store_true',
        help='train the teacher (or reuse the one trained before in '
        'WORK_DIR) even if a shipped one exists')
    parser.add_argument(
        '--jobs', type=int,
        help='student runs trained at the same time; default: one per CPU '
        'core with 1 thread each (OMP_NUM_THREADS, unless set) on a CPU-only '
        'machine, 1 with a GPU (where 4-8 keep a GPU with many cores busy)')
    parser.add_argument('--data-root', default=DEFAULT_OUT)
    parser.add_argument(
        '--data-src', default=DEFAULT_SRC,
        help='folder with the Fashion-MNIST *.gz files')
    parser.add_argument(
        '--download', action='store_true',
        help='download Fashion-MNIST if it is not prepared yet')
    return parser.parse_args()


def ensure_data(args):
    if is_prepared(args.data_root):
        return
    print(f'Preparing Fashion-MNIST in {args.data_root}')
    if args.download:
        with tempfile.TemporaryDirectory() as tmp:
            download(tmp)
            prepare(tmp, args.data_root)
    else:
        prepare(args.data_src, args.data_root)


def data_options(data_root):
    if data_root == DEFAULT_OUT:
        return []
    return [
        f'{loader}.dataset.data_root={data_root}'
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader')
    ]


def main():
    args = parse_args()
    # `kill` ends the runs in progress too (see train).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.chdir(REPO)  # paths in arguments, configs and records: repo-relative
    mode = 'demo' if args.demo else 'quick' if args.quick else 'full'
    epochs, plan = MODES[mode]
    epochs = args.epochs or epochs
    if epochs < 2:
        raise SystemExit('--epochs must be >= 2 (1 warm-up epoch + cosine)')
    if args.jobs is not None and args.jobs < 1:
        raise SystemExit('--jobs must be >= 1')
    if args.seeds:
        plan = OrderedDict(
            (arm, list(range(args.seeds)) if arm in MAIN_ARMS else seeds)
            for arm, seeds in plan.items())
    start = time.time()
    ensure_data(args)
    data_opts = data_options(args.data_root)
    python = sys.executable
    root = args.work_dir

    teacher, teacher_ckpt = get_teacher(args, root, data_opts, python)

    jobs = []
    num_runs = sum(len(seeds) for seeds in plan.values())
    for arm, seeds in plan.items():
        config = osp.join(CONFIG_DIR, ARMS[arm][0])
        options = [f'train_cfg.max_epochs={epochs}', *data_opts]
        if arm != 'student':
            options.append(f'model.teacher_ckpt={teacher_ckpt}')
        for seed in seeds:
            work_dir = osp.join(root, f'{mode}_{epochs}e', arm, f'seed{seed}')
            name = f'[{len(jobs) + 1}/{num_runs}] {arm} seed {seed}'
            jobs.append((arm, name, config, work_dir, seed, options))
    num_jobs, env = run_plan(args.jobs, num_runs)
    print(f'{mode} mode: {num_runs} student runs of {epochs} epochs, '
          f'{num_jobs} at a time')
    with ThreadPoolExecutor(num_jobs) as pool:
        futures = [
            pool.submit(train, name, config, work_dir, seed, options, python,
                        env)
            for _, name, config, work_dir, seed, options in jobs
        ]
        try:
            runs = [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            kill_runs()
            raise
    results = OrderedDict((arm, []) for arm in plan)
    for (arm, *_), run in zip(jobs, runs):
        results[arm].append(run)
    total = time.time() - start
    summary = summarize(results)
    device = device_name(env)

    print(f'\nTeacher: {fmt(teacher["top1"])}')
    for arm, s in summary.items():
        std = f' ± {s["std"]:.2f}' if s['n'] > 1 else ''
        print(f'{arm:>22}: {s["mean"]:.2f}{std} % top-1 '
              f'(seeds {s["seeds"]})')
    if mode == 'demo':
        gain = summary['vitkd-nkd']['mean'] - summary['student']['mean']
        cost = run_cost(results['student'] + results['vitkd-nkd'])
        print(f'\nViTKD+NKD student {summary["vitkd-nkd"]["mean"]:.2f} % vs '
              f'student alone {summary["student"]["mean"]:.2f} % '
              f'({gain:+.2f} points), after {epochs} epochs; teacher '
              f'{fmt(teacher["top1"])}. {total / 60:.1f} min in all; the '
              f'two runs: {cost} (summed).')
        return

    os.makedirs(args.out_dir, exist_ok=True)
    prefix = osp.join(args.out_dir, 'fashion_mnist_results' +
                      ('' if mode == 'full' else '_' + mode))
    command = shlex.join(
        ['python', 'tools/reproduce_fashion_mnist.py', *sys.argv[1:]])
    commit = source_revision()
    write_markdown(prefix + '.md', mode, epochs, summary, results, teacher,
                   command, commit)
    with open(prefix + '.json', 'w') as f:
        json.dump(
            dict(
                mode=mode,
                epochs=epochs,
                device=device,
                command=command,
                commit=commit,
                invocation_wall_s=round(total, 1),
                teacher=teacher,
                summary=summary,
                runs=results),
            f,
            indent=1)
    plots = write_plots(prefix, summary, results, teacher)
    print('\n' + '\n'.join(claim_lines(summary)))
    print(f'\nWrote {prefix}.md, {prefix}.json' +
          ''.join(f', {p}' for p in plots) + f' ({total / 60:.1f} min)')


if __name__ == '__main__':
    main()
