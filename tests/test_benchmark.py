import os
import os.path as osp
import re
import subprocess
import sys

import torch

from .conftest import REPO_ROOT

ARM_ROWS = ('(a) student alone', '(b) student + teacher fwd', '(c) ViTKD',
            '(c) ViTKD+NKD', "(c') ViTKD+NKD, no gen.")
RATIO_ROWS = ('ms/step', 'cpu ms', 'peak memory', 'step memory')
NUMBER = r'(\d+(?:\.\d+)?)'


def test_benchmark_tiny_pair_cpu():
    """Two steps of each arm of the tiny pair print a complete table."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    command = [
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'benchmark.py'),
        *('--pair', 'tiny', '--device', 'cpu', '--threads', '1'),
        *('--batch-size', '2', '--steps', '2', '--warmup', '0'),
    ]
    proc = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith('pair tiny | cpu')

    # ms/step, (min), cpu ms, peak MiB, step MiB, then the batch augments
    arm_pattern = r'\s+'.join([NUMBER] * 5) + r'\s+(\S+)$'
    augments, stats = set(), {}
    for label in ARM_ROWS:
        row = [line for line in lines if line.startswith(label + ' ')]
        assert len(row) == 1, (label, proc.stdout)
        match = re.search(arm_pattern, row[0])
        assert match, row[0]
        ms, min_ms, cpu_ms, peak, _ = map(float, match.groups()[:5])
        assert 0 < min_ms <= ms and cpu_ms > 0 and peak > 0, row[0]
        augments.add(match.group(6))
        stats[label] = dict(ms=ms, cpu=cpu_ms)
    # the distiller reuses the student's preprocessor: same batch augments
    assert augments == {'Mixup+CutMix'}

    split_start = next(
        i for i, line in enumerate(lines) if line.startswith('split of'))
    ratio_lines, split_lines = lines[:split_start], lines[split_start:]

    # (c)/(b) and (c)/(a) for ViTKD and ViTKD+NKD
    for label in RATIO_ROWS:
        row = [line for line in ratio_lines if line.startswith(label + ' ')]
        assert len(row) == 1, (label, proc.stdout)
        values = row[0][len(label):].split()
        if label == 'step memory':
            # 'n/a' if an arm's RSS did not grow during its two tiny steps
            values = [v for v in values if v != 'n/a']
        else:
            assert len(values) == 4, row[0]
        assert all(float(v) > 0 for v in values), row[0]

    # (c)/(b) of ViTKD+NKD split into the rest of the distiller and the
    # generator, from the arms' own figures
    floor, full, rest = (stats[ARM_ROWS[i]] for i in (1, 3, 4))
    for label, key in (('ms/step', 'ms'), ('cpu ms', 'cpu')):
        row = [line for line in split_lines if line.startswith(label + ' ')]
        assert len(row) == 1, (label, proc.stdout)
        match = re.search(r'distiller ([+-][\d.]+), generator ([+-][\d.]+)$',
                          row[0])
        assert match, row[0]
        expected = ((rest[key] - floor[key]) / floor[key],
                    (full[key] - rest[key]) / floor[key])
        for got, want in zip(map(float, match.groups()), expected):
            # the arms' figures are printed to 0.1 ms (each off by <= 0.05),
            # the split to 0.001
            bound = 0.05 * (3 + abs(want)) / floor[key] + 5e-4
            assert abs(got - want) <= bound, (row[0], expected)


def test_no_generator_arm_differs_from_vitkd_nkd_only_by_the_generator(
        mmpretrain_scope):
    import vitkd_mm  # noqa: F401
    from vitkd_mm.models.connectors import GenerationConnector
    import benchmark

    full = benchmark.build_arm(
        benchmark.load_config('tiny', 'vitkd_nkd'), 'vitkd_nkd')
    diag = benchmark.build_arm(
        benchmark.load_config('tiny', 'no_generator'), 'no_generator')
    connector = next(
        m for m in diag.modules() if isinstance(m, GenerationConnector))
    assert isinstance(connector.generator, benchmark.PassThroughGenerator)
    grid = torch.rand(2, 128, 8, 8)
    assert connector.generator(grid, None) is grid

    generator_keys = {k for k in full.state_dict() if '.generator.' in k}
    assert generator_keys  # the conv generator's weights
    assert set(full.state_dict()) - generator_keys == set(diag.state_dict())
