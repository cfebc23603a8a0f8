"""teacher_precision: the frozen teacher's forward in bf16/fp16."""
import copy
import logging
import os.path as osp
from contextlib import nullcontext

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner

from tests.utils import fake_batch, tiny_distill_cfg, tiny_runner_cfg
from vitkd_mm.models.algorithms import (single_teacher_distill,
                                        teacher_precision)
from vitkd_mm.models.algorithms.teacher_precision import (TeacherPrecision,
                                                          supported_precisions)
from vitkd_mm.registry import MODELS
from vitkd_mm.utils import safe_torch_load

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')

# The teacher side records the output of a Linear (bf16 under autocast), not
# of a whole block (whose residual sum promotes to fp32).
TEACHER_SOURCE = 'backbone.layers.0.ffn.layers.1'


def build(**changes):
    cfg = tiny_distill_cfg()
    cfg.distiller.teacher_recorders.block0.source = TEACHER_SOURCE
    cfg.update(changes)
    torch.manual_seed(0)  # the same weights for every precision
    return MODELS.build(cfg)


def teacher_block0(model, batch, dtype=None):
    """The output of the teacher's ``TEACHER_SOURCE``, computed here by
    hand: a plain forward, under ``torch.autocast(dtype)`` if given."""
    outputs = []
    source = model.teacher.get_submodule(TEACHER_SOURCE)
    handle = source.register_forward_hook(
        lambda module, args, output: outputs.append(output))
    data = model.data_preprocessor(batch, True)
    # torch 2.1 refuses a float32 CPU autocast dtype even when disabled
    precision = nullcontext() if dtype is None else torch.autocast(
        'cpu', dtype=dtype)
    with torch.no_grad(), precision:
        model.teacher(data['inputs'], mode='tensor')
    handle.remove()
    return outputs[0]


def recorded_block0(model, batch):
    model.train()
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    return model.distiller.teacher_recorders.get_recorder(
        'block0').get_record_data(), losses


def test_bf16_teacher_records_are_bf16_results_in_fp32():
    batch = fake_batch()
    fp32_model, bf16_model = build(), build(teacher_precision='bf16')
    fp32_record, _ = recorded_block0(fp32_model, batch)
    bf16_record, losses = recorded_block0(bf16_model, batch)

    reference = teacher_block0(bf16_model, batch, torch.bfloat16)
    assert reference.dtype == torch.bfloat16
    assert bf16_record.dtype == torch.float32
    assert torch.equal(bf16_record, reference.float())
    assert torch.equal(fp32_record, teacher_block0(fp32_model, batch))
    assert not torch.equal(bf16_record, fp32_record)
    # bf16 keeps 8 significant bits: about 2**-8 relative error per op
    torch.testing.assert_close(bf16_record, fp32_record, rtol=0.05, atol=0.05)
    assert all(value.dtype == torch.float32 for value in losses.values())


def test_connectors_and_losses_get_the_students_dtype():
    model = build(teacher_precision='bf16')
    seen = {}

    def spy(name):

        def hook(module, args, kwargs):
            seen[name] = [
                value.dtype for value in (*args, *kwargs.values())
                if torch.is_tensor(value)
            ]

        return hook

    model.distiller.connectors['tokens'].register_forward_pre_hook(
        spy('tokens'), with_kwargs=True)
    model.distiller.distill_losses['loss_mimic'].register_forward_pre_hook(
        spy('loss_mimic'), with_kwargs=True)
    recorded_block0(model, fake_batch())
    assert seen == dict(
        tokens=[torch.float32], loss_mimic=[torch.float32, torch.float32])


def test_gradients_reach_only_student_and_connectors():
    model = build(teacher_precision='bf16')
    _, losses = recorded_block0(model, fake_batch())
    sum(losses.values()).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.distiller.connectors['proj'].parameters())
    assert model.architecture.backbone.layers[0].ffn.layers[1].weight.grad.abs(
    ).sum() > 0


def test_bf16_teacher_stays_frozen_fp32_and_in_eval():
    model = build(teacher_precision='bf16')
    before = copy.deepcopy(model.teacher.state_dict())
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-2))
    modes = []
    model.teacher.register_forward_pre_hook(
        lambda module, args: modes.append(module.training))
    model.train()
    for seed in range(2):
        model.train_step(fake_batch(seed=seed), optim)
    assert modes == [False, False]
    assert all(not p.requires_grad for p in model.teacher.parameters())
    for key, value in model.teacher.state_dict().items():
        assert value.dtype == before[key].dtype
        assert torch.equal(value, before[key]), key


def test_fp32_inherits_an_outer_autocast():
    """How it composes with AmpOptimWrapper, whose autocast wraps the loss
    forward: 'fp32' runs the teacher in the outer dtype (as before this
    option)."""
    batch = fake_batch()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        inherited, _ = recorded_block0(build(), batch)
    bf16_model = build(teacher_precision='bf16')
    bf16_reference = teacher_block0(bf16_model, batch, torch.bfloat16)
    assert torch.equal(inherited, bf16_reference.float())


def cpu_fp16_autocast() -> bool:
    """Whether this torch has fp16 autocast on the CPU (torch 2.1 has
    bf16 only)."""
    try:
        with torch.autocast('cpu', dtype=torch.float16):
            return True
    except RuntimeError:
        return False


@pytest.mark.skipif(
    not cpu_fp16_autocast(),
    reason=f'torch {torch.__version__} has no fp16 autocast on the CPU, '
    'so no outer fp16 autocast to override here')
def test_bf16_overrides_an_outer_autocast():
    """'bf16' runs the teacher in bf16 even inside an fp16 autocast (an
    fp16 AmpOptimWrapper)."""
    batch = fake_batch()
    bf16_model = build(teacher_precision='bf16')
    with torch.autocast('cpu', dtype=torch.float16):
        overridden, _ = recorded_block0(bf16_model, batch)
    bf16_reference = teacher_block0(bf16_model, batch, torch.bfloat16)
    assert torch.equal(overridden, bf16_reference.float())


@pytest.mark.parametrize('precision, device, message', [
    ('fp8', 'cpu', "teacher_precision='fp8' is unknown; use one of "
     "['bf16', 'fp16', 'fp32']."),
    ('fp16', 'cpu', "teacher_precision='fp16' is not supported on 'cpu' "
     "(supported there: ['fp32', 'bf16']). Use 'bf16' on CPUs."),
    ('bf16', 'mps', "teacher_precision='bf16' is not supported on 'mps' "
     "(supported there: ['fp32'])."),
])
def test_unsupported_precision_is_a_build_error(monkeypatch, precision, device,
                                                message):
    monkeypatch.setattr(single_teacher_distill, 'get_device', lambda: device)
    with pytest.raises(ValueError) as error:
        build(teacher_precision=precision)
    assert str(error.value) == message


def test_trainable_teacher_rejects_a_low_precision():
    with pytest.raises(
            ValueError,
            match=r"teacher_precision='bf16' applies "
            'to a frozen teacher; with teacher_trainable=True'):
        build(teacher_precision='bf16', teacher_trainable=True)


def test_cuda_precisions_follow_bf16_support(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda: False)
    assert supported_precisions('cuda') == ('fp32', 'fp16')
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda: True)
    assert supported_precisions('cuda') == ('fp32', 'fp16', 'bf16')
    assert TeacherPrecision('fp16', 'cuda').dtype == torch.float16


@pytest.mark.parametrize('flags, warns', [((), True), (('amx_bf16', ), False)])
def test_bf16_on_a_cpu_without_native_bf16_warns(monkeypatch, flags, warns):
    logged = []
    monkeypatch.setattr(teacher_precision, 'cpu_bf16_flags', lambda: flags)
    monkeypatch.setattr(teacher_precision, 'print_log',
                        lambda msg, logger, level: logged.append((msg, level)))
    TeacherPrecision('bf16', 'cpu')
    TeacherPrecision('fp32', 'cpu')
    if warns:
        [(msg, level)] = logged
        assert level == logging.WARNING
        assert msg.startswith("teacher_precision='bf16' on a CPU without "
                              'native bf16 (none of amx_bf16, avx512_bf16')
    else:
        assert logged == []


def test_checkpoint_resume_and_export_keep_the_fp32_teacher(tmp_path):
    cfg = tiny_runner_cfg(tmp_path)
    teacher = build().teacher
    teacher_ckpt = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict()), teacher_ckpt)
    cfg.model.update(teacher_ckpt=teacher_ckpt, teacher_precision='bf16')
    Runner.from_cfg(copy.deepcopy(cfg)).train()

    cfg.train_cfg.max_epochs = 3
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.iter == 9
    for epoch in (2, 3):
        state = safe_torch_load(osp.join(cfg.work_dir,
                                         f'epoch_{epoch}.pth'))['state_dict']
        for key, value in teacher.state_dict().items():
            assert state[f'teacher.{key}'].dtype == torch.float32
            assert torch.equal(state[f'teacher.{key}'], value), key
    exported = safe_torch_load(osp.join(cfg.work_dir,
                                        'student.pth'))['state_dict']
    student = build().architecture
    student.load_state_dict(exported, strict=True)
    for key, value in resumed.model.architecture.state_dict().items():
        assert torch.equal(exported[key], value), key
