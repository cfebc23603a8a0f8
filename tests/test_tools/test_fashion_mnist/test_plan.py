"""tools/fashion_mnist/plan.py: what each mode trains (mode_plan), the jobs
of a plan (plan_jobs) and the order they run in (train_all)."""
import json
import os.path as osp

import pytest

from tests.fashion_mnist_utils import COMMITTED, PRETRAIN
from tools.fashion_mnist import arms
from tools.fashion_mnist import plan as kit_plan
from tools.fashion_mnist import runs


def test_modes_plan():
    full = arms.MODES['full']
    assert all(len(full.plan[arm]) >= 3 for arm in arms.MAIN_ARMS)
    assert set(full.plan) == set(arms.MAIN_ARMS) | set(arms.ABLATION_ARMS)
    assert list(arms.MODES['demo'].plan) == ['student', 'vitkd-nkd']
    # ViTKD+NKD with a bf16 teacher: the fp32 arm plus one override
    assert arms.ARMS['vitkd-nkd_bf16-teacher'] == arms.ARMS[
        'vitkd-nkd']._replace(
            description='ViTKD + NKD, bf16 teacher',
            cfg_options=('model.teacher_precision=bf16', ))
    assert {arms.ARMS[arm].teacher
            for arm in arms.GRID_MISMATCH_ARMS} == {'teacher-p7'}
    # --seeds: that many seeds for the main arms, ablations keep theirs
    plan = kit_plan.mode_plan('full', seeds=2)
    assert plan['vitkd'] == [0, 1] and plan['vitkd-deep-only'] == [0]
    assert kit_plan.mode_plan('quick') == arms.MODES['quick'].plan


#: The committed results of each mode; quick mode's ran with ``--seeds 3``.
MODE_RECORDS = {
    mode: (COMMITTED + ('' if mode == 'full' else f'_{mode}') + '.json',
           3 if mode == 'quick' else None)
    for mode in arms.MODES if mode != 'demo'
}


@pytest.mark.parametrize('mode', MODE_RECORDS)
def test_mode_plans_what_its_committed_results_ran(mode):
    """Each mode trains the arms, seeds, configs and epochs behind its
    committed table, read from the records of those runs."""
    path, seeds = MODE_RECORDS[mode]
    with open(path) as f:
        record = json.load(f)
    ran = {
        arm: sorted(run['seed'] for run in runs_)
        for arm, runs_ in record['runs'].items()
    }
    assert kit_plan.mode_plan(mode, seeds) == ran
    assert arms.MODES[mode].epochs == record['epochs']
    for arm, runs_ in record['runs'].items():
        assert {osp.basename(run['config'])
                for run in runs_} == {arms.ARMS[arm].config}


def test_plan_jobs_pass_each_arm_its_teacher_and_options(monkeypatch):
    """A run's overrides: epochs, data root, the checkpoint of the arm's
    teacher (none for the student), then the arm's own options."""
    spec = arms.Arm('vit-d48_vitkd_fashion-mnist.py', 'x',
                    ('model.teacher_precision=bf16', ))
    teachers = dict(teacher=dict(checkpoint='t.pth'))
    plan = {'student': [0], 'vitkd': [1]}
    monkeypatch.setitem(arms.ARMS, 'vitkd', spec)
    pretrain_jobs, jobs = kit_plan.plan_jobs(
        plan, 'root/full_3e', 3, teachers,
        ['train_dataloader.dataset.data_root=d'])
    common = ['train_cfg.max_epochs=3', 'train_dataloader.dataset.data_root=d']
    assert pretrain_jobs == []
    assert jobs == [
        ('student', '[1/2] student seed 0',
         osp.join(arms.CONFIG_DIR, 'vit-d48_fashion-mnist.py'),
         osp.join('root/full_3e', 'student', 'seed0'), 0, common, None),
        ('vitkd', '[2/2] vitkd seed 1',
         osp.join(arms.CONFIG_DIR, 'vit-d48_vitkd_fashion-mnist.py'),
         osp.join('root/full_3e', 'vitkd', 'seed1'), 1,
         [*common, 'model.teacher_ckpt=t.pth',
          'model.teacher_precision=bf16'], None),
    ]


def test_plan_runs_each_pretraining_once_per_seed_before_its_arms(monkeypatch):
    """Pretrainings are planned per seed with their own epochs; an arm
    that names one gets its export of the same seed."""
    plan = {
        'student_1k': [0],
        'label-free-vitkd_1k': [0, 1],
        'label-free-vitkd_vitkd-nkd_1k': [1]
    }
    teachers = dict(teacher=dict(checkpoint='t.pth'))
    pretrain_jobs, jobs = kit_plan.plan_jobs(plan, 'root/lf_80e', 80, teachers,
                                             [])
    assert [(j.arm, j.seed, j.work_dir) for j in pretrain_jobs] == [
        ('pretrain_label-free-vitkd', seed,
         osp.join('root/lf_80e', 'pretrain_label-free-vitkd', f'seed{seed}'))
        for seed in (0, 1)
    ]
    assert pretrain_jobs[0].options == [
        f'train_cfg.max_epochs={PRETRAIN.epochs}', 'model.teacher_ckpt=t.pth'
    ]
    assert [j.name for j in jobs] == [
        '[3/6] student_1k seed 0', '[4/6] label-free-vitkd_1k seed 0',
        '[5/6] label-free-vitkd_1k seed 1',
        '[6/6] label-free-vitkd_vitkd-nkd_1k seed 1'
    ]

    calls = []

    def fake_pretrain(pool, name, config, work_dir, seed, options):
        calls.append(('pretrain', seed))
        return dict(student=f'{work_dir}/student.pth', seed=seed)

    def fake_train(pool, name, config, work_dir, seed, options):
        calls.append(('train', name))
        return dict(options=options, seed=seed)

    monkeypatch.setattr(runs, 'pretrain', fake_pretrain)
    monkeypatch.setattr(runs, 'train', fake_train)
    results, pretrainings = kit_plan.train_all(pretrain_jobs, jobs, 1)
    assert calls[:2] == [('pretrain', 0), ('pretrain', 1)]
    assert [r['seed']
            for r in pretrainings['pretrain_label-free-vitkd']] == [0, 1]
    seed1 = results['label-free-vitkd_vitkd-nkd_1k'][0]['options']
    assert seed1[-1] == ('model.architecture.init_cfg.checkpoint=root/lf_80e/'
                         'pretrain_label-free-vitkd/seed1/student.pth')
    assert results['student_1k'][0]['options'] == ['train_cfg.max_epochs=80']
