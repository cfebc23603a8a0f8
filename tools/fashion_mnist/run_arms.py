"""Reproduce ViTKD and NKD on Fashion-MNIST with small ViTs, in one command.

1. prepares ``data/fashion_mnist`` if missing
   (tools/dataset_converters/prepare_fashion_mnist.py);
2. takes each teacher the mode's arms read (96-dim ViT, all 60k training
   images): the shipped checkpoint in ``checkpoints/fashion_mnist/`` if
   present, else trains it once in ``WORK_DIR/<teacher>_<epochs>e`` and
   reuses it in every later run and mode;
3. trains every arm of the mode for its seeds, all arms with the same recipe
   (10k training images, same epochs, same seeds), each run in
   ``WORK_DIR/<mode>_<epochs>e/<arm>/seed<k>`` with its ``result.json``;
   finished runs are reused, so an interrupted kit resumes where it stopped;
4. writes the mode's record (``kit.json`` beside the runs) and the report
   (``python -m tools.fashion_mnist.report``, which rebuilds it alone later): a
   markdown table (mean +- std), a JSON of the raw results with seeds and
   commands, PNG plots. Runs use CUDA when available.

Modes (``arms.py``):
    demo    the student alone and the ViTKD+NKD student, 5 epochs, seed 0;
            prints both accuracies, writes no report.
    quick   the four main arms (student, NKD, ViTKD, ViTKD+NKD), seed 0,
            10 epochs.
    full    the four main arms for 3 seeds, the five ablations for seed 0,
            15 epochs (the default).
    bf16-teacher
            ViTKD+NKD with an fp32 and with a bf16 teacher
            (``model.teacher_precision=bf16``), 3 seeds, 15 epochs.
    grid-mismatch
            the student alone, ViTKD, and ViTKD from a teacher with 7 px
            patches (a 4 x 4 token grid against the student's 7 x 7): its
            tokens resized to 7 x 7, or its input resized to 49 px; 3 seeds,
            15 epochs. Trains that teacher once if it is not shipped.
    alignment
            ViTKD+NKD and ViTKD, seed 0, 15 epochs: the alignment metrics
            over epochs (the report's ``_alignment.png``) and the token
            maps of each validation in the runs' ``vis_data/vis_image/``.
    label-free
            distillation without labels: 1,000 labelled images (100 per
            class from the first 10k) and the 50,000 training images after
            the 10k as an unlabelled folder (their labels never read;
            tools/dataset_converters/split_fashion_mnist_label_free.py).
            Per seed, a label-free ViTKD pretraining on the 50k (6 epochs,
            in ``<mode dir>/pretrain_label-free-vitkd/seed<k>``), then four
            arms on the 1k for 80 epochs: the student alone, ViTKD+NKD, and
            both initialised from the pretraining; 3 seeds.

Examples:
    python -m tools.fashion_mnist.run_arms --demo
    python -m tools.fashion_mnist.run_arms --quick
    python -m tools.fashion_mnist.run_arms --mode bf16-teacher
    python -m tools.fashion_mnist.run_arms --mode grid-mismatch
    python -m tools.fashion_mnist.run_arms --mode label-free
    python -m tools.fashion_mnist.run_arms
"""
import argparse
import json
import os
import os.path as osp
import shlex
import signal
import sys
import tempfile
import time

if __name__ == '__main__' and not __package__:
    sys.exit('Run the kit as a module, from the repository root: '
             'python -m tools.fashion_mnist.run_arms ...')

from tools.dataset_converters.prepare_fashion_mnist import (DEFAULT_OUT,
                                                            DEFAULT_SRC,
                                                            download,
                                                            is_prepared,
                                                            prepare)
from tools.dataset_converters.split_fashion_mnist_label_free import \
    split as split_label_free
from . import runs
from .arms import ARMS, MODES, PRETRAININGS
from .plan import mode_plan, plan_jobs, train_all
from .report import KIT_FILE, fmt, run_cost, summarize, write_report
from .teachers import get_teacher

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Reproduce ViTKD/NKD on Fashion-MNIST (see docstring)')
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        '--mode', choices=list(MODES), help='the arms and seeds to train')
    group.add_argument(
        '--quick',
        action='store_const',
        const='quick',
        dest='mode',
        help='four main arms, one seed, 10 epochs (= --mode quick)')
    group.add_argument(
        '--demo',
        action='store_const',
        const='demo',
        dest='mode',
        help='student alone vs ViTKD+NKD, one seed, 5 epochs')
    parser.add_argument(
        '--seeds',
        type=int,
        help='number of seeds of the main arms (default: the mode\'s)')
    parser.add_argument(
        '--epochs', type=int, help='override the epochs of the mode')
    parser.add_argument(
        '--work-dir',
        default='work_dirs/fashion_mnist',
        help='root of all runs (teachers: WORK_DIR/<teacher>_<epochs>e)')
    parser.add_argument(
        '--out-dir', default='docs', help='where tables, JSON, plots go')
    parser.add_argument(
        '--teacher-ckpt',
        help='use this checkpoint for the teacher `teacher` instead of the '
        'shipped one (its record, if any, is read from the .json of the '
        'same name)')
    parser.add_argument(
        '--train-teacher',
        action='store_true',
        help='train the teachers (or reuse the ones trained before in '
        'WORK_DIR) even if shipped ones exist')
    parser.add_argument(
        '--jobs',
        type=int,
        help='student runs trained at the same time; default: one per CPU '
        'core with 1 thread each (OMP_NUM_THREADS, unless set) on a CPU-only '
        'machine, 1 with a GPU (where 4-8 keep a GPU with many cores busy)')
    parser.add_argument('--data-root', default=DEFAULT_OUT)
    parser.add_argument(
        '--data-src',
        default=DEFAULT_SRC,
        help='folder with the Fashion-MNIST *.gz files')
    parser.add_argument(
        '--download',
        action='store_true',
        help='download Fashion-MNIST if it is not prepared yet')
    args = parser.parse_args(argv)
    args.mode = args.mode or 'full'
    if args.epochs is not None and args.epochs < 2:
        parser.error('--epochs must be >= 2 (1 warm-up epoch + cosine)')
    if args.jobs is not None and args.jobs < 1:
        parser.error('--jobs must be >= 1')
    return args


def ensure_data(args, label_free=False):
    """Prepare Fashion-MNIST if needed, and its label-free split if
    ``label_free`` (in ``DATA_ROOT/label_free``)."""
    if not is_prepared(args.data_root):
        print(f'Preparing Fashion-MNIST in {args.data_root}')
        if args.download:
            with tempfile.TemporaryDirectory() as tmp:
                download(tmp)
                prepare(tmp, args.data_root)
        else:
            prepare(args.data_src, args.data_root)
    if label_free:
        split_label_free(args.data_root, label_free_root(args.data_root))


def label_free_root(data_root):
    return osp.join(data_root, 'label_free')


def data_options(data_root, label_free=False):
    """``--cfg-options`` pointing every dataloader at ``data_root`` (the
    training one at its label-free split if ``label_free``)."""
    if data_root == DEFAULT_OUT:
        return []
    train_root = label_free_root(data_root) if label_free else data_root
    return [f'train_dataloader.dataset.data_root={train_root}'] + [
        f'{loader}.dataset.data_root={data_root}'
        for loader in ('val_dataloader', 'test_dataloader')
    ]


def print_demo(summary, results, teacher, epochs, total):
    gain = summary['vitkd-nkd']['mean'] - summary['student']['mean']
    cost = run_cost(results['student'] + results['vitkd-nkd'])
    print(f'\nViTKD+NKD student {summary["vitkd-nkd"]["mean"]:.2f} % vs '
          f'student alone {summary["student"]["mean"]:.2f} % '
          f'({gain:+.2f} points), after {epochs} epochs; teacher '
          f'{fmt(teacher["top1"])}. {total / 60:.1f} min in all; the '
          f'two runs: {cost} (summed).')


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    # `kill` ends the runs in progress too (fresh_process_pool).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.chdir(REPO)  # paths in arguments, configs and records: repo-relative
    epochs = args.epochs or MODES[args.mode].epochs
    plan = mode_plan(args.mode, args.seeds)
    start = time.time()
    label_free = MODES[args.mode].label_free
    ensure_data(args, label_free)
    data_opts = data_options(args.data_root, label_free)

    teachers = {}
    teacher_names = [ARMS[arm].teacher for arm in plan] + [
        PRETRAININGS[ARMS[arm].pretraining].teacher
        for arm in plan if ARMS[arm].pretraining is not None
    ]
    for name in dict.fromkeys(teacher_names):
        if name is not None:
            teachers[name] = get_teacher(
                name, args.work_dir, data_opts,
                args.teacher_ckpt if name == 'teacher' else None,
                args.train_teacher)
            print(f'{name}: {teachers[name]["checkpoint"]} (top-1 '
                  f'{fmt(teachers[name]["top1"])})')

    mode_dir = osp.join(args.work_dir, f'{args.mode}_{epochs}e')
    pretrain_jobs, jobs = plan_jobs(plan, mode_dir, epochs, teachers,
                                    data_opts)
    num_jobs, threads = runs.concurrency(args.jobs,
                                         len(pretrain_jobs) + len(jobs))
    if threads is not None:  # what the runs' fresh processes read
        os.environ['OMP_NUM_THREADS'] = threads
    pretraining = (f'{len(pretrain_jobs)} pretrainings, then '
                   if pretrain_jobs else '')
    print(f'{args.mode} mode: {pretraining}{len(jobs)} student runs of '
          f'{epochs} epochs, {num_jobs} at a time')
    results, pretrainings = train_all(pretrain_jobs, jobs, num_jobs)
    total = time.time() - start
    summary = summarize(results)
    for arm, s in summary.items():
        std = f' ± {s["std"]:.2f}' if s['n'] > 1 else ''
        print(f'{arm:>22}: {s["mean"]:.2f}{std} % top-1 '
              f'(seeds {s["seeds"]})')
    if args.mode == 'demo':
        print_demo(summary, results, teachers['teacher'], epochs, total)
        return

    command = shlex.join(
        ['python', '-m', 'tools.fashion_mnist.run_arms', *argv])
    record = dict(
        mode=args.mode,
        epochs=epochs,
        device=runs.device_name(),
        command=command,
        commit=runs.source_revision(),
        invocation_wall_s=round(total, 1),
        teachers=teachers,
        data=MODES[args.mode].data)
    if pretrainings:
        record['pretrainings'] = pretrainings
    with open(osp.join(mode_dir, KIT_FILE), 'w') as f:
        json.dump(dict(record, plan=plan), f, indent=1)
    written = write_report(args.out_dir, record, results)
    print(f'\nWrote {", ".join(written)} ({total / 60:.1f} min)')


if __name__ == '__main__':
    main()
