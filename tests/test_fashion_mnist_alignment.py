"""The Fashion-MNIST kit's record and report of the alignment metrics."""
import json
import os.path as osp

import pytest
from fashion_mnist import alignment, arms, runs


def test_alignment_mode_plan():
    assert arms.MODES['alignment'] == arms.Mode(15, {
        'vitkd-nkd': [0],
        'vitkd': [0]
    })


def test_read_alignment_averages_each_epoch(tmp_path):
    vis = tmp_path / '20240101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    records = [
        {
            'loss': 2.0,
            'distill.loss_gen': 0.3,
            'distill.cos_gen_masked': 0.2,
            'distill.agree_top1_nkd': 0.5,
            'epoch': 1,
            'step': 20
        },
        {
            'loss': 1.0,
            'distill.loss_gen': 0.2,
            'distill.cos_gen_masked': 0.4,
            'distill.agree_top1_nkd': 0.7,
            'epoch': 1,
            'step': 40
        },
        {
            'distill.cos_gen_masked': 0.9,
            'distill.agree_top1_nkd': 1.0,
            'epoch': 2,
            'step': 60
        },
        {
            'accuracy/top1': 70.0,
            'step': 1
        },
    ]
    (vis / 'scalars.json').write_text('\n'.join(map(json.dumps, records)))
    assert runs.read_alignment(str(tmp_path)) == {
        'cos_gen_masked': [[1, pytest.approx(0.3)], [2, 0.9]],
        'agree_top1_nkd': [[1, pytest.approx(0.6)], [2, 1.0]],
    }


def run_record(seed, config, values=None):
    record = dict(seed=seed, config=config, top1=80.0)
    if values is not None:
        record['alignment'] = {
            name: [[1, value / 2], [2, value]]
            for name, value in values.items()
        }
    return record


def test_report_section_and_plot(tmp_path):
    results = {
        'student': [run_record(0, 'vit-d48_fashion-mnist.py')],
        'vitkd': [
            run_record(0, 'vit-d48_vitkd_fashion-mnist.py', {
                'cos_mimic_0': 0.8,
                'cos_gen_masked': 0.6
            }),
            run_record(1, 'vit-d48_vitkd_fashion-mnist.py', {
                'cos_mimic_0': 0.6,
                'cos_gen_masked': 0.4
            })
        ],
        'nkd': [run_record(0, 'vit-d48_nkd_fashion-mnist.py')],
    }
    lines = alignment.alignment_markdown(results)
    assert '| arm | cos_mimic_0 | cos_gen_masked |' in lines
    assert '| vitkd | 0.700 | 0.500 |' in lines  # last epoch, seed mean
    # the student has no teacher; NKD ran without recording them
    assert ('Not recorded for nkd: these runs ran before the kit logged '
            'the metrics.') in lines
    [path] = alignment.write_alignment_plot(str(tmp_path / 'r'), results)
    assert osp.getsize(path) > 0
    assert alignment.write_alignment_plot(
        str(tmp_path / 'none'), {'nkd': results['nkd']}) == []
