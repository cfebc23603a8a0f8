"""Training runs of the Fashion-MNIST kit.

A run is the training that ``python tools/train.py CONFIG --work-dir DIR
--cfg-options randomness.seed=SEED ...`` does (the run's recorded
``command``): mmengine's Runner on the merged config. It trains in a fresh
process of a :func:`vitkd_mm.utils.fresh_process_pool`, its console output
goes to ``train_stdout.log`` in its work dir, and it returns what the
Runner saw (:class:`RunRecord`) as data. The record goes to
``result.json``; a run whose ``result.json`` exists is reused, so an
interrupted kit resumes where it stopped.
"""
import argparse
import gc
import json
import os
import os.path as osp
import resource
import shlex
import statistics
import subprocess
import time

from mmengine.hooks import Hook

from vitkd_mm.utils import add_cfg_options, load_config

RESULT_FILE = 'result.json'
LOG_FILE = 'train_stdout.log'


def device_name():
    """The device the runs train on, in words: the GPU, or the CPU model,
    its cores and the ``OMP_NUM_THREADS`` of each run."""
    import torch

    from vitkd_mm.utils import device_name as model_name
    if torch.cuda.is_available():
        return 'cuda: ' + model_name('cuda')
    threads = os.environ.get('OMP_NUM_THREADS', str(torch.get_num_threads()))
    return (f'cpu: {model_name()}, {os.cpu_count()} cores, '
            f'OMP_NUM_THREADS={threads}')


def source_revision():
    """The git commit the kit ran from (``+modified`` if tracked files were
    changed), or None outside a git checkout."""
    try:
        commit = subprocess.run(['git', 'rev-parse', 'HEAD'],
                                capture_output=True,
                                text=True,
                                check=True).stdout.strip()
        changed = subprocess.run(
            ['git', 'status', '--porcelain', '--untracked-files=no'],
            capture_output=True,
            text=True,
            check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ('+modified' if changed else '')


def concurrency(jobs, num_runs):
    """How many runs train at once, and the ``OMP_NUM_THREADS`` of each.

    ``jobs=None`` picks the default: on a CPU-only machine one run per core
    (at most ``num_runs``), each with its share of the cores (these small
    ViTs train faster as parallel 1-thread runs than one after another on
    all cores); with a GPU one run. An ``OMP_NUM_THREADS`` the caller set
    wins.

    Returns:
        tuple[int, str | None]: The runs at once, and the threads of each
        (None with a GPU: left as it is).
    """
    import torch
    if torch.cuda.is_available():
        return jobs or 1, None
    cores = os.cpu_count() or 1
    jobs = jobs or max(1, min(cores, num_runs))
    return jobs, os.environ.get('OMP_NUM_THREADS', str(max(1, cores // jobs)))


class RunRecord(Hook):
    """What a run reports, collected from the Runner as it trains.

    Attributes:
        curve (list): ``[[epoch, top-1], ...]``, one per validation.
        teacher_top1 (float | None): The teacher's top-1 the validation
            loop scored (``teacher/accuracy/top1``).
        iter_times (list[float]): Seconds of each training iteration
            (the message hub's ``train/time``).
        losses (list[float]): The total loss of each training iteration.
        alignment (dict): ``{metric: [[epoch, mean], ...]}``: the mean over
            each epoch's iterations of the ``distill.*`` values that are not
            losses (``cos_mimic_0``, ``cos_gen_masked``, ``agree_top1_nkd``,
            ...); empty for a run without them.
    """
    priority = 'LOWEST'  # after the hooks that fill the message hub

    def __init__(self):
        self.curve, self.iter_times, self.losses = [], [], []
        self.teacher_top1 = None
        self._per_epoch = {}

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        hub = runner.message_hub
        self.iter_times.append(hub.get_scalar('train/time').current())
        self.losses.append(hub.get_scalar('train/loss').current())
        for key in outputs:
            if key.startswith('distill.') and 'loss' not in key:
                metric = self._per_epoch.setdefault(key[len('distill.'):], {})
                metric.setdefault(runner.epoch + 1, []).append(
                    hub.get_scalar(f'train/{key}').current())

    def after_val_epoch(self, runner, metrics=None):
        self.curve.append([runner.epoch, metrics['accuracy/top1']])
        self.teacher_top1 = metrics.get('teacher/accuracy/top1',
                                        self.teacher_top1)

    @property
    def alignment(self):
        return {
            metric: [[epoch, statistics.fmean(values)]
                     for epoch, values in sorted(per_epoch.items())]
            for metric, per_epoch in self._per_epoch.items()
        }


def _cfg_options(options):
    """``['key=value', ...]`` parsed as ``--cfg-options`` parses them."""
    parser = argparse.ArgumentParser()
    add_cfg_options(parser)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


def train_here(config, work_dir, options):
    """Train ``config`` in this process, its output to :data:`LOG_FILE`.

    Meant for a fresh process of its own (see the module docstring): it
    redirects the process's stdout and stderr.

    Returns:
        dict: The :class:`RunRecord` fields, ``wall_s``, ``cpu_s`` (this
        process and its dataloader workers, which unlike wall time does not
        depend on who shares the CPUs) and ``device``.
    """
    from mmengine.runner import Runner
    start = time.time()
    log = os.open(
        osp.join(work_dir, LOG_FILE), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    cfg = load_config(config, _cfg_options(options))
    cfg.work_dir = work_dir
    runner = Runner.from_cfg(cfg)
    record = RunRecord()
    runner.register_hook(record)
    runner.train()
    del runner
    gc.collect()  # ends the dataloader workers, so that their time counts
    cpu = sum(usage.ru_utime + usage.ru_stime
              for usage in (resource.getrusage(resource.RUSAGE_SELF),
                            resource.getrusage(resource.RUSAGE_CHILDREN)))
    return dict(
        curve=record.curve,
        teacher_top1=record.teacher_top1,
        alignment=record.alignment,
        iter_times=record.iter_times,
        losses=record.losses,
        wall_s=round(time.time() - start, 1),
        cpu_s=round(cpu, 1),
        device=device_name())


def load_result(work_dir):
    """The record of a finished run, or None if it has not finished."""
    path = osp.join(work_dir, RESULT_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _run(pool, name, config, work_dir, seed, options):
    """Train in ``pool``; the run's common record and its figures.

    Raises:
        RuntimeError: With the end of the run's log, if it failed.
    """
    os.makedirs(work_dir, exist_ok=True)
    options = [f'randomness.seed={seed}', *options]
    command = shlex.join([
        'python', 'tools/train.py', config, '--work-dir', work_dir,
        '--cfg-options', *options
    ])
    log = osp.join(work_dir, LOG_FILE)
    print(f'  {name}: training ... (log: {log})', flush=True)
    try:
        figures = pool.submit(train_here, config, work_dir, options).result()
    except Exception as error:  # the run's, or a broken pool's
        tail = ''
        if osp.isfile(log):
            with open(log) as f:
                tail = ''.join(f.readlines()[-30:])
        raise RuntimeError(f'{name} failed ({error!r}):\n{command}'
                           f'\n--- last lines of {log} ---\n{tail}') from error
    times = figures['iter_times']
    common = dict(
        config=config,
        seed=seed,
        command=command,
        sec_per_iter=statistics.fmean(times) if times else None,
        wall_s=figures['wall_s'],
        cpu_s=figures['cpu_s'],
        device=figures['device'],
        work_dir=work_dir)
    return common, figures


def _record(result, work_dir):
    with open(osp.join(work_dir, RESULT_FILE), 'w') as f:
        json.dump(result, f, indent=1)
    return result


def train(pool, name, config, work_dir, seed, cfg_options):
    """Train one config (or reuse a finished run) and return its result.

    Args:
        pool (ProcessPoolExecutor): A :func:`fresh_process_pool` to train in.
        name (str): Name of the run, for the progress line.
        config (str): Config path, relative to the repo root.
        work_dir (str): The run's work dir.
        seed (int): ``randomness.seed``.
        cfg_options (list[str]): Further ``key=value`` overrides.

    Returns:
        dict: config, seed, command, s/iter, wall and CPU time, device, work
        dir, final top-1 and curve, and if the run had them the teacher's
        top-1 and the alignment metrics per epoch (see :class:`RunRecord`);
        also written to ``result.json``.
    """
    result = load_result(work_dir)
    if result is not None:
        print(f'  {name}: reused {result["top1"]:.2f} % ({work_dir})')
        return result
    result, figures = _run(pool, name, config, work_dir, seed, cfg_options)
    if not figures['curve']:
        raise RuntimeError(f'{name}: no validation ran ({work_dir})')
    result.update(top1=figures['curve'][-1][1], curve=figures['curve'])
    if figures['alignment']:
        result['alignment'] = figures['alignment']
    teacher = ''
    if figures['teacher_top1'] is not None:
        result['teacher_top1'] = figures['teacher_top1']
        teacher = (f' (its teacher, scored in the run: '
                   f'{figures["teacher_top1"]:.2f} %)')
    print(
        f'  {name}: top-1 {result["top1"]:.2f} % in '
        f'{result["wall_s"] / 60:.1f} min{teacher}',
        flush=True)
    return _record(result, work_dir)


def pretrain(pool, name, config, work_dir, seed, cfg_options):
    """Train a label-free pretraining (or reuse a finished one).

    Args: as :func:`train`.

    Returns:
        dict: config, seed, command, s/iter, wall and CPU time, device, work
        dir, ``student`` (the exported ``student.pth``) and its last loss
        (also written to ``result.json``).
    """
    result = load_result(work_dir)
    if result is not None:
        print(f'  {name}: reused {result["student"]}')
        return result
    result, figures = _run(pool, name, config, work_dir, seed, cfg_options)
    student = osp.join(work_dir, 'student.pth')
    if not osp.isfile(student):
        raise FileNotFoundError(f'{name} wrote no {student}')
    result.update(student=student, final_loss=figures['losses'][-1])
    print(
        f'  {name}: {student} in {result["wall_s"] / 60:.1f} min', flush=True)
    return _record(result, work_dir)
