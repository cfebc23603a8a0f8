"""tools/fashion_mnist/report.py: the claims, the committed table rebuilt
from its JSON or from the runs' work dirs, and what the label-free mode's
report says of its data and pretraining."""
import json
import os
import os.path as osp

import pytest

from tests.fashion_mnist_utils import COMMITTED
from tools.fashion_mnist import arms, report, runs


def test_summary_and_claim_lines():
    """Mean and sample std per arm, and a claim checked against them."""
    finished = dict(
        student=[
            dict(seed=s, top1=a, sec_per_iter=0.1)
            for s, a in enumerate((80.0, 82.0, 84.0))
        ],
        vitkd=[
            dict(seed=s, top1=a, sec_per_iter=0.2)
            for s, a in enumerate((85.0, 85.0, 85.0))
        ])
    summary = report.summarize(finished)
    assert summary['student']['mean'] == pytest.approx(82.0)
    assert summary['student']['std'] == pytest.approx(2.0)  # sample std
    assert summary['vitkd']['std'] == 0.0
    lines = report.claim_lines(summary)
    assert lines == [
        '- ViTKD beats the student alone: holds (vitkd 85.00 vs student '
        '82.00, +3.00 points; |difference| > seed std (2.00))'
    ]


@pytest.mark.parametrize('bf16_top1, verdict', [(81.5, 'holds'),
                                                (80.9, 'does NOT hold')])
def test_matches_claim_allows_one_reference_std(bf16_top1, verdict):
    """"A bf16 teacher does as well": within one seed std of the fp32 arm
    (mean 82, sample std 1) or above."""
    finished = {
        'vitkd-nkd': [
            dict(seed=s, top1=a, sec_per_iter=None)
            for s, a in enumerate((81.0, 82.0, 83.0))
        ],
        'vitkd-nkd_bf16-teacher':
        [dict(seed=s, top1=bf16_top1, sec_per_iter=None) for s in range(3)],
    }
    lines = report.claim_lines(report.summarize(finished))
    assert lines == [
        f'- a bf16 teacher does as well as an fp32 one: {verdict} '
        f'(vitkd-nkd_bf16-teacher {bf16_top1:.2f} vs vitkd-nkd 82.00, '
        f'{bf16_top1 - 82:+.2f} points; needs at least -1.00: one seed std '
        'of vitkd-nkd)'
    ]
    # Seed 0 alone (fp32 81.0): no std, so only "or above" counts.
    one_seed = {arm: runs_[:1] for arm, runs_ in finished.items()}
    [line] = report.claim_lines(report.summarize(one_seed))
    assert line.endswith('single seed of vitkd-nkd: no noise estimate)')
    assert (': holds (' if bf16_top1 >= 81.0 else ': not shown (') in line


def write_kit_dir(mode_dir, data):
    """A mode work dir as run_arms.py leaves it, from a results JSON."""
    plan = {
        arm: [run['seed'] for run in runs_]
        for arm, runs_ in data['runs'].items()
    }
    record = {k: v for k, v in data.items() if k not in ('summary', 'runs')}
    os.makedirs(mode_dir)
    with open(osp.join(mode_dir, report.KIT_FILE), 'w') as f:
        json.dump(dict(record, plan=plan), f)
    for arm, runs_ in data['runs'].items():
        for run in runs_:
            work_dir = osp.join(mode_dir, arm, f'seed{run["seed"]}')
            os.makedirs(work_dir)
            with open(osp.join(work_dir, runs.RESULT_FILE), 'w') as f:
                json.dump(run, f)


def test_report_rebuilds_the_committed_table(tmp_path):
    """The committed full-mode table comes back byte for byte, from the
    committed JSON and from the work dirs the runs left, without training;
    a run that has not finished is named."""
    with open(COMMITTED + '.md') as f:
        committed = f.read()
    out = str(tmp_path / 'from_json')
    report.main([COMMITTED + '.json', '--out-dir', out])
    with open(osp.join(out, 'fashion_mnist_results.md')) as f:
        assert f.read() == committed

    with open(COMMITTED + '.json') as f:
        data = json.load(f)
    data['teachers'] = dict(teacher=data.pop('teacher'))
    mode_dir = str(tmp_path / 'work_dirs' / 'full_15e')
    write_kit_dir(mode_dir, data)
    out = str(tmp_path / 'from_work_dirs')
    report.main([mode_dir, '--out-dir', out])
    with open(osp.join(out, 'fashion_mnist_results.md')) as f:
        assert f.read() == committed
    with open(osp.join(out, 'fashion_mnist_results.json')) as f:
        rebuilt = json.load(f)
    assert rebuilt['runs'] == data['runs']
    # the same statistics (statistics.stdev: equal but for the last bits)
    assert list(rebuilt['summary']) == list(data['summary'])
    for arm, summary in data['summary'].items():
        for key, value in summary.items():
            assert rebuilt['summary'][arm][key] == (
                pytest.approx(value, rel=1e-12)
                if isinstance(value, float) else value)

    os.remove(osp.join(mode_dir, 'nkd', 'seed2', runs.RESULT_FILE))
    with pytest.raises(FileNotFoundError, match='nkd seed 2 has not'):
        report.load_kit(mode_dir)


def test_report_names_the_data_and_the_pretraining():
    run = dict(
        seed=0,
        command='python tools/train.py x.py',
        final_loss=1.25,
        wall_s=60,
        cpu_s=120)
    record = dict(
        mode='label-free',
        epochs=80,
        teachers={},
        data=arms.MODES['label-free'].data,
        pretrainings={'pretrain_label-free-vitkd': [run,
                                                    dict(run, seed=1)]})
    result = dict(seed=0, top1=50.0, sec_per_iter=0.1, cpu_s=10, curve=[])
    results = {'student_1k': [result]}
    text = report.markdown('x', record, report.summarize(results), results)
    assert 'trained on the 1,000 labelled images (100 per class' in text
    assert ('Label-free pretraining `pretrain_label-free-vitkd`: ViTKD '
            '(mimic blocks 0, 1 + generate deep) on the 50,000 unlabelled '
            'training images') in text
    assert ('one per seed (0, 1), e.g. `python tools/train.py x.py`; final '
            'loss 1.250, 1.250; 2.0 min wall, 4.0 CPU-min in total.') in text
