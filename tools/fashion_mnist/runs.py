"""Training runs of the Fashion-MNIST kit.

Every run is a real ``tools/train.py`` training (mmengine's Runner), one
subprocess per run, seeded with ``randomness.seed``; its record goes to
``result.json`` in its work dir, and a run whose ``result.json`` exists is
reused, so an interrupted kit resumes where it stopped.
"""
import glob
import json
import os
import os.path as osp
import platform
import shlex
import signal
import subprocess
import time

RESULT_FILE = 'result.json'


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


def scalars_file(work_dir):
    """The ``vis_data/scalars.json`` of the newest run in ``work_dir``."""
    files = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'no vis_data/scalars.json in {work_dir}')
    return files[-1]


def read_teacher_top1(work_dir):
    """The teacher's top-1 that the run's validation loop logged
    (``teacher/accuracy/top1``), or None if it logged none."""
    top1 = None
    with open(scalars_file(work_dir)) as f:
        for line in f:
            top1 = json.loads(line).get('teacher/accuracy/top1', top1)
    return top1


def read_scalars(work_dir):
    """Validation curve and mean seconds per training iteration of a run.

    Reads the ``vis_data/scalars.json`` the Runner's LocalVisBackend wrote
    in the newest timestamped folder of ``work_dir``.
    """
    path = scalars_file(work_dir)
    curve, iter_times = [], []
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if 'accuracy/top1' in record:
                curve.append([record['step'], record['accuracy/top1']])
            elif 'time' in record and 'lr' in record:
                iter_times.append(record['time'])
    if not curve:
        raise RuntimeError(f'no validation accuracy logged in {path}')
    sec_per_iter = sum(iter_times) / len(iter_times) if iter_times else None
    return curve, sec_per_iter


def read_alignment(work_dir):
    """The alignment metrics of a distilled run per epoch.

    ``{metric: [[epoch, mean of the logged values of that epoch], ...]}``
    for the ``distill.*`` keys without ``loss`` (``cos_mimic_0``,
    ``cos_gen_masked``, ``agree_top1_nkd``, ...) in the training records of
    the newest ``vis_data/scalars.json``; empty for a run without them.
    """
    sums = {}
    with open(scalars_file(work_dir)) as f:
        for line in f:
            record = json.loads(line)
            for key, value in record.items():
                if key.startswith('distill.') and 'loss' not in key:
                    by_epoch = sums.setdefault(key[len('distill.'):], {})
                    total, count = by_epoch.get(record['epoch'], (0.0, 0))
                    by_epoch[record['epoch']] = (total + value, count + 1)
    return {
        metric: [[epoch, total / count]
                 for epoch, (total, count) in sorted(by_epoch.items())]
        for metric, by_epoch in sums.items()
    }


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


def load_result(work_dir):
    """The record of a finished run, or None if it has not finished."""
    path = osp.join(work_dir, RESULT_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _run(name, config, work_dir, seed, cfg_options, python, env):
    """Run ``tools/train.py`` on ``config``; ``(command, wall s, CPU s)``.

    Raises:
        RuntimeError: With the end of the run's log, if it failed.
    """
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
    if code != 0:
        with open(log) as f:
            tail = ''.join(f.readlines()[-30:])
        raise RuntimeError(f'{name} failed (exit {code}):\n{command}'
                           f'\n--- last lines of {log} ---\n{tail}')
    return command, time.time() - start, usage.ru_utime + usage.ru_stime


def _record(result, work_dir):
    with open(osp.join(work_dir, RESULT_FILE), 'w') as f:
        json.dump(result, f, indent=1)
    return result


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
        CPU time, device, work dir, and for a distilled run its alignment
        metrics per epoch (:func:`read_alignment`) (also written to
        ``result.json``).
    """
    result = load_result(work_dir)
    if result is not None:
        print(f'  {name}: reused {result["top1"]:.2f} % ({work_dir})')
        return result
    command, wall, cpu = _run(name, config, work_dir, seed, cfg_options,
                              python, env)
    curve, sec_per_iter = read_scalars(work_dir)
    result = dict(
        config=config,
        seed=seed,
        command=command,
        top1=curve[-1][1],
        curve=curve,
        sec_per_iter=sec_per_iter,
        wall_s=round(wall, 1),
        cpu_s=round(cpu, 1),
        device=device_name(env),
        work_dir=work_dir)
    alignment = read_alignment(work_dir)
    if alignment:
        result['alignment'] = alignment
    teacher_top1 = read_teacher_top1(work_dir)
    if teacher_top1 is not None:
        result['teacher_top1'] = teacher_top1
    _record(result, work_dir)
    teacher = '' if teacher_top1 is None else \
        f' (its teacher, scored in the run: {teacher_top1:.2f} %)'
    print(
        f'  {name}: top-1 {result["top1"]:.2f} % in {wall / 60:.1f} min'
        f'{teacher}',
        flush=True)
    return result


def pretrain(name, config, work_dir, seed, cfg_options, python, env=None):
    """Train a label-free pretraining (or reuse a finished one).

    Args: as :func:`train`.

    Returns:
        dict: config, seed, command, ``student`` (the exported
        ``student.pth``), its last logged loss, s/iter, wall and CPU time,
        device, work dir (also written to ``result.json``).
    """
    result = load_result(work_dir)
    if result is not None:
        print(f'  {name}: reused {result["student"]}')
        return result
    command, wall, cpu = _run(name, config, work_dir, seed, cfg_options,
                              python, env)
    losses, iter_times = [], []
    with open(scalars_file(work_dir)) as f:
        for line in f:
            record = json.loads(line)
            if 'loss' in record:
                losses.append(record['loss'])
                iter_times.append(record['time'])
    student = osp.join(work_dir, 'student.pth')
    if not osp.isfile(student):
        raise FileNotFoundError(f'{name} wrote no {student}')
    result = dict(
        config=config,
        seed=seed,
        command=command,
        student=student,
        final_loss=losses[-1],
        sec_per_iter=sum(iter_times) / len(iter_times),
        wall_s=round(wall, 1),
        cpu_s=round(cpu, 1),
        device=device_name(env),
        work_dir=work_dir)
    print(f'  {name}: {student} in {wall / 60:.1f} min', flush=True)
    return _record(result, work_dir)
