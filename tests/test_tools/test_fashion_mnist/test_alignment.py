"""tools/fashion_mnist/alignment.py: the report's section and plot of the
alignment metrics."""
import os.path as osp

from tools.fashion_mnist import alignment


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
