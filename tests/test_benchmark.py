import os
import os.path as osp
import re
import subprocess
import sys

from .conftest import REPO_ROOT

ARM_ROWS = ('(a) student alone', '(b) student + teacher fwd', '(c) ViTKD',
            '(c) ViTKD+NKD')
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
    augments = set()
    for label in ARM_ROWS:
        row = [line for line in lines if line.startswith(label + ' ')]
        assert len(row) == 1, (label, proc.stdout)
        match = re.search(arm_pattern, row[0])
        assert match, row[0]
        ms, min_ms, cpu_ms, peak, _ = map(float, match.groups()[:5])
        assert 0 < min_ms <= ms and cpu_ms > 0 and peak > 0, row[0]
        augments.add(match.group(6))
    # the distiller reuses the student's preprocessor: same batch augments
    assert augments == {'Mixup+CutMix'}

    # (c)/(b) and (c)/(a) for ViTKD and ViTKD+NKD
    for label in RATIO_ROWS:
        row = [line for line in lines if line.startswith(label + ' ')]
        assert len(row) == 1, (label, proc.stdout)
        values = row[0][len(label):].split()
        if label == 'step memory':
            # 'n/a' if an arm's RSS did not grow during its two tiny steps
            values = [v for v in values if v != 'n/a']
        else:
            assert len(values) == 4, row[0]
        assert all(float(v) > 0 for v in values), row[0]
