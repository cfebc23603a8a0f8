"""What a mode trains, and training it: one job per run, pretrainings
first, ``--jobs`` runs at a time, each in a fresh process."""
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import List, NamedTuple, Optional

from vitkd_mm.utils import fresh_process_pool
from . import runs
from .arms import ARMS, MAIN_ARMS, MODES, PRETRAININGS, config_path


def mode_plan(mode, seeds=None):
    """``{arm: seeds}`` of a mode; ``seeds`` seeds for the main arms."""
    plan = MODES[mode].plan
    if seeds:
        plan = {
            arm: list(range(seeds)) if arm in MAIN_ARMS else arm_seeds
            for arm, arm_seeds in plan.items()
        }
    return plan


class Job(NamedTuple):
    """One run: an arm (or a pretraining) for one seed."""
    arm: str
    name: str
    config: str
    work_dir: str
    seed: int
    options: List[str]
    pretraining: Optional[str] = None


def plan_jobs(plan, mode_dir, epochs, teachers, data_opts):
    """The runs of a plan: ``(pretraining jobs, arm jobs)``.

    Each pretraining an arm names is planned once per seed, in
    ``mode_dir/pretrain_<name>/seed<k>``, for its own epochs.
    """
    needed = {}
    for arm, seeds in plan.items():
        if ARMS[arm].pretraining is not None:
            needed.setdefault(ARMS[arm].pretraining, set()).update(seeds)
    num_runs = sum(len(seeds) for seeds in [*plan.values(), *needed.values()])
    pretrain_jobs, arm_jobs = [], []

    def add(into, arm, spec, seeds, epochs, extra=(), pretraining=None):
        options = [f'train_cfg.max_epochs={epochs}', *data_opts]
        if spec.teacher is not None:
            checkpoint = teachers[spec.teacher]['checkpoint']
            options.append(f'model.teacher_ckpt={checkpoint}')
        for seed in sorted(seeds):
            work_dir = osp.join(mode_dir, arm, f'seed{seed}')
            number = len(pretrain_jobs) + len(arm_jobs) + 1
            name = f'[{number}/{num_runs}] {arm} seed {seed}'
            into.append(
                Job(arm, name, config_path(spec.config), work_dir, seed,
                    [*options, *extra], pretraining))

    for name, seeds in needed.items():
        spec = PRETRAININGS[name]
        add(pretrain_jobs, f'pretrain_{name}', spec, seeds, spec.epochs)
    for arm, seeds in plan.items():
        spec = ARMS[arm]
        add(arm_jobs, arm, spec, seeds, epochs, spec.cfg_options,
            spec.pretraining)
    return pretrain_jobs, arm_jobs


def _train_after(pretrained, pool, job):
    """Train ``job`` in ``pool`` once its pretraining (a future, or None)
    has ended."""
    options = job.options
    if pretrained is not None:
        student = pretrained.result()['student']
        options = [option.format(pretrained=student) for option in options]
    return runs.train(pool, job.name, job.config, job.work_dir, job.seed,
                      options)


def train_all(pretrain_jobs, jobs, num_jobs):
    """Train the pretrainings, then the arms, ``num_jobs`` at a time, each
    in a fresh process; an arm waits for its pretraining of the same seed.

    Returns:
        tuple[dict, dict]: ``{arm: [result, ...]}`` and ``{pretraining:
        [result, ...]}``.
    """
    # One thread per job waits for its run; the processes train. The pool
    # is left first, so an error or Ctrl-C ends the runs the threads wait
    # for.
    with ThreadPoolExecutor(len(pretrain_jobs) + len(jobs)) as waiting:
        with fresh_process_pool(num_jobs) as pool:
            # Submitted first, so every pretraining has started before an
            # arm that waits for one takes a process.
            pretrained = {
                (job.arm, job.seed):
                waiting.submit(runs.pretrain, pool, job.name, job.config,
                               job.work_dir, job.seed, job.options)
                for job in pretrain_jobs
            }
            futures = [
                waiting.submit(
                    _train_after,
                    pretrained.get((f'pretrain_{job.pretraining}', job.seed)),
                    pool, job) for job in jobs
            ]
            try:
                finished = [future.result() for future in futures]
                stages = [future.result() for future in pretrained.values()]
            except BaseException:
                for future in [*pretrained.values(), *futures]:
                    future.cancel()
                raise
    results, pretrainings = {}, {}
    for job, result in zip(jobs, finished):
        results.setdefault(job.arm, []).append(result)
    for job, result in zip(pretrain_jobs, stages):
        pretrainings.setdefault(job.arm, []).append(result)
    return results, pretrainings
