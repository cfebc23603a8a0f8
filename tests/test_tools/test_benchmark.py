import json
import os
import os.path as osp
import subprocess
import sys

import benchmark_arms
import benchmark_report
import pytest
import torch

from tests.utils import REPO_ROOT, fake_batch
from vitkd_mm.utils import cpu_bf16_flags

BENCHMARK = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'benchmark.py')


def test_benchmark_tiny_pair_cpu(tmp_path):
    """Two steps of each arm of the tiny pair: complete figures as data,
    ratios and split computed from the arms' own figures."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    out = str(tmp_path / 'bench.json')
    command = [
        sys.executable, BENCHMARK,
        *('--pair', 'tiny', '--device', 'cpu', '--threads', '1'),
        *('--batch-size', '2', '--steps', '2', '--warmup', '0'),
        *('--json', out)
    ]
    proc = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        report = json.load(f)
    assert (report['pair'], report['device']) == ('tiny', 'cpu')
    assert report['precision'] == 'fp32, 1 thread(s)'
    assert list(report['arms']) == list(benchmark_arms.ARMS)

    arms = report['arms']
    for arm, s in arms.items():
        assert s['label'] == benchmark_arms.ARMS[arm]
        assert len(s['times_ms']) == len(s['cpu_times_ms']) == 2
        assert 0 < s['min_time'] <= s['time'], arm
        assert s['time'] == pytest.approx(sum(s['times_ms']) / 2)  # median
        assert s['cpu_time'] > 0 and s['peak'] > 0, arm
        # the distiller reuses the student's preprocessor: same augments
        assert s['augments'] == 'Mixup+CutMix', arm

    # (b16) and every (c) against (b), (b16) and (a), every metric
    assert list(report['ratios']) == [
        'floor_bf16', 'vitkd', 'vitkd_nkd', 'vitkd_bf16', 'vitkd_nkd_bf16'
    ]
    for arm, refs in report['ratios'].items():
        assert list(refs) == ['floor', 'floor_bf16', 'student']
        for ref, ratios in refs.items():
            assert set(ratios) == {'time', 'cpu_time', 'peak', 'step'}
            for key, value in ratios.items():
                if arms[ref][key] <= 0:  # an RSS that did not grow
                    assert value is None
                else:
                    assert value == pytest.approx(
                        arms[arm][key] / arms[ref][key]), (arm, ref, key)

    # (c)/(b) of ViTKD+NKD = 1 + rest of the distiller + generator
    assert set(report['split']) == {'time', 'cpu_time'}
    for key, split in report['split'].items():
        floor, full, rest = (
            arms[arm][key] for arm in ('floor', 'vitkd_nkd', 'no_generator'))
        assert split['rest'] == pytest.approx((rest - floor) / floor)
        assert split['generator'] == pytest.approx((full - rest) / floor)

    # the NaN guard's share: (c) ViTKD+NKD against itself without it
    assert set(report['guard']) == {'time', 'cpu_time'}
    for key, share in report['guard'].items():
        full, unchecked = (
            arms[arm][key] for arm in ('vitkd_nkd', 'unchecked'))
        assert share == pytest.approx((full - unchecked) / unchecked)

    # the alignment metrics' share: (c) against itself without them
    assert set(report['alignment_metrics']) == {'time', 'cpu_time'}
    for key, share in report['alignment_metrics'].items():
        full, unmeasured = (
            arms[arm][key] for arm in ('vitkd_nkd', 'no_metrics'))
        assert share == pytest.approx((full - unmeasured) / unmeasured)

    # the CPU's bf16 support, as its flags say
    flags = cpu_bf16_flags()
    assert (report['cpu_bf16'].startswith('native bf16: ' + ', '.join(flags))
            if flags else report['cpu_bf16'].startswith('no native bf16'))

    # the printed tables show the JSON's figures: the first row of each arm
    # its times and memory, the next ones its ratios, a table per metric
    rows = {}
    for line in proc.stdout.splitlines():
        for arm, s in arms.items():
            if line.strip().startswith(s['label'] + ' '):
                rows.setdefault(arm, []).append(line.split())
    for arm, s in arms.items():
        assert rows[arm][0][-6:] == [
            f'{s["time"]:.1f}', f'{s["min_time"]:.1f}', f'{s["cpu_time"]:.1f}',
            f'{s["peak"]:.0f}', f'{s["step"]:.0f}', 'Mixup+CutMix'
        ], arm
    for arm, refs in report['ratios'].items():
        assert [row[-3:] for row in rows[arm][1:]] == [[
            benchmark_report.format_ratio(refs[ref][key]) for ref in refs
        ] for key in ('time', 'cpu_time', 'peak', 'step')], arm
    assert 'cpu: ' + report['cpu_bf16'] in proc.stdout


def test_floor_arm_is_the_distill_algorithm_without_distillation(
        mmpretrain_scope):
    """(b) is ``SingleTeacherDistill`` recording nothing: its loss is the
    student's alone and the teacher runs its full forward, head included,
    under no_grad."""
    import vitkd_mm  # noqa: F401
    from vitkd_mm.models import SingleTeacherDistill

    cfg = benchmark_arms.load_config('tiny', 'floor')
    floor = benchmark_arms.build_arm(cfg, 'floor')
    assert isinstance(floor, SingleTeacherDistill)
    assert not floor.distiller.distill_losses
    head_calls = []
    floor.teacher.head.register_forward_hook(
        lambda module, args, output: head_calls.append(output.requires_grad))

    batch = fake_batch(batch_size=2, num_classes=100, size=32)
    data = floor.data_preprocessor(batch, True)
    losses = floor(**data, mode='loss')
    assert list(losses) == ['student.loss']
    assert head_calls == [False]

    torch.manual_seed(0)
    student = benchmark_arms.build_arm(cfg, 'student')
    student.load_state_dict(floor.architecture.state_dict())
    torch.testing.assert_close(
        student(**data, mode='loss')['loss'], losses['student.loss'])


def test_no_generator_arm_differs_from_vitkd_nkd_only_by_the_generator(
        mmpretrain_scope):
    import vitkd_mm  # noqa: F401
    from vitkd_mm.models.connectors import GenerationConnector

    full = benchmark_arms.build_arm(
        benchmark_arms.load_config('tiny', 'vitkd_nkd'), 'vitkd_nkd')
    diag = benchmark_arms.build_arm(
        benchmark_arms.load_config('tiny', 'no_generator'), 'no_generator')
    connector = next(m for m in diag.modules()
                     if isinstance(m, GenerationConnector))
    assert isinstance(connector.generator, benchmark_arms.PassThroughGenerator)
    grid = torch.rand(2, 128, 8, 8)
    assert connector.generator(grid, None) is grid

    generator_keys = {k for k in full.state_dict() if '.generator.' in k}
    assert generator_keys  # the conv generator's weights
    assert set(full.state_dict()) - generator_keys == set(diag.state_dict())


@pytest.mark.parametrize('arm', ['floor', 'vitkd', 'vitkd_nkd'])
def test_bf16_arm_is_its_fp32_arm_with_a_bf16_teacher(mmpretrain_scope, arm):
    import vitkd_mm  # noqa: F401

    fp32_cfg = benchmark_arms.load_config('tiny', arm)
    bf16_cfg = benchmark_arms.load_config('tiny', arm + '_bf16')
    assert bf16_cfg.model.pop('teacher_precision') == 'bf16'
    assert bf16_cfg.model == fp32_cfg.model
    model = benchmark_arms.build_arm(
        benchmark_arms.load_config('tiny', arm + '_bf16'), arm + '_bf16')
    assert model.teacher_precision.dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in model.teacher.parameters())


def test_unchecked_arm_is_vitkd_nkd_without_the_guard(mmpretrain_scope):
    """(c-) builds ViTKD+NKD with check_finite off, all else the same: it
    returns a NaN loss where (c) raises."""
    import vitkd_mm  # noqa: F401

    cfg = benchmark_arms.load_config('tiny', 'unchecked')
    assert cfg.model.pop('check_finite') is False
    assert cfg.model == benchmark_arms.load_config('tiny', 'vitkd_nkd').model
    nan = {'loss': torch.tensor(float('nan'))}
    unchecked = benchmark_arms.build_arm(
        benchmark_arms.load_config('tiny', 'unchecked'), 'unchecked')
    loss, _ = unchecked.parse_losses(nan)
    assert torch.isnan(loss)
    full = benchmark_arms.build_arm(
        benchmark_arms.load_config('tiny', 'vitkd_nkd'), 'vitkd_nkd')
    with pytest.raises(FloatingPointError, match='Non-finite loss'):
        full.parse_losses(nan)


def test_no_metrics_arm_is_vitkd_nkd_without_metrics(mmpretrain_scope):
    """(cm) builds ViTKD+NKD with alignment_metrics off, all else the same:
    its losses are (c)'s without the metrics."""
    import vitkd_mm  # noqa: F401

    cfg = benchmark_arms.load_config('tiny', 'no_metrics')
    assert cfg.model.distiller.pop('alignment_metrics') is False
    assert cfg.model == benchmark_arms.load_config('tiny', 'vitkd_nkd').model
    names = {}
    for arm in ('no_metrics', 'vitkd_nkd'):
        model = benchmark_arms.build_arm(
            benchmark_arms.load_config('tiny', arm), arm)
        data = model.data_preprocessor(fake_batch(num_classes=100), True)
        names[arm] = set(model(**data, mode='loss'))
    assert names['vitkd_nkd'] - names['no_metrics'] == {
        'distill.cos_mimic_0', 'distill.cos_mimic_1', 'distill.cos_gen_masked',
        'distill.cos_gen_visible', 'distill.agree_top1_nkd'
    }
