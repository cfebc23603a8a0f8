"""SingleTeacherDistill: teacher handling, loss keys, modes, label-free
batches, the non-finite loss guard and its warnings at build."""
import copy

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from mmpretrain.structures import DataSample

from tests.utils import LabelTrap
from tests.utils import adamw_train_step as step
from tests.utils import build_tiny_distill as build
from tests.utils import fake_batch, optim_for
from tests.utils import tiny_distill as tiny
from tests.utils import (tiny_distill_cfg, tiny_runner_cfg, tiny_teacher_state,
                         unlabelled, vitkd_cfg)
from vitkd_mm.models import SingleTeacherDistill
from vitkd_mm.models.algorithms.single_teacher_distill import is_labelled
from vitkd_mm.registry import MODELS

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def train_steps(model, steps=3, seed=0):
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-2))
    model.train()
    return [
        model.train_step(fake_batch(seed=seed + i), optim)
        for i in range(steps)
    ]


def test_teacher_frozen_in_eval_and_unchanged_by_training():
    model = build()
    teacher_before = copy.deepcopy(model.teacher.state_dict())
    student_before = copy.deepcopy(model.architecture.state_dict())
    modes = []
    model.teacher.register_forward_pre_hook(
        lambda module, args, kwargs: modes.append(module.training),
        with_kwargs=True)
    logs = train_steps(model)

    assert modes == [False, False, False]
    assert not model.teacher.training and model.architecture.training
    assert all(not p.requires_grad for p in model.teacher.parameters())
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher_before[key]), key
    changed = [
        key for key, value in model.architecture.state_dict().items()
        if not torch.equal(value, student_before[key])
    ]
    assert changed, 'the student should train'
    assert set(logs[0]) == {
        'loss', 'student.loss', 'distill.loss_mimic', 'distill.cos_mimic'
    }
    torch.testing.assert_close(
        logs[0]['loss'],
        logs[0]['student.loss'] + logs[0]['distill.loss_mimic'])


def test_train_call_keeps_teacher_in_eval():
    model = build()
    for mode in (True, False, True):
        model.train(mode)
        assert model.architecture.training is mode
        assert not model.teacher.training
        assert all(not m.training for m in model.teacher.modules())


def test_trainable_teacher_trains_on_its_own_loss():
    model = build(teacher_trainable=True)
    model.train()
    assert model.teacher.training
    before = copy.deepcopy(model.teacher.state_dict())
    logs = train_steps(model, steps=1)
    assert set(logs[0]) == {
        'loss', 'teacher.loss', 'student.loss', 'distill.loss_mimic',
        'distill.cos_mimic'
    }
    assert any(not torch.equal(v, before[k])
               for k, v in model.teacher.state_dict().items())


def test_without_student_loss():
    model = build(calculate_student_loss=False)
    logs = train_steps(model, steps=1)
    assert set(logs[0]) == {'loss', 'distill.loss_mimic', 'distill.cos_mimic'}


def test_predict_and_tensor_use_the_student_only():
    model = build()
    teacher_calls = []
    model.teacher.register_forward_hook(lambda *a: teacher_calls.append(1))
    model.eval()
    batch = fake_batch()
    predictions = model.val_step(batch)
    assert len(predictions) == 4 and predictions[0].pred_score.shape == (3, )
    data = model.data_preprocessor(batch, False)
    logits = model(data['inputs'], data['data_samples'], mode='tensor')
    expected = model.architecture(data['inputs'], mode='tensor')
    torch.testing.assert_close(logits, expected)
    assert teacher_calls == []
    with pytest.raises(RuntimeError, match='Invalid mode'):
        model(data['inputs'], mode='features')


def test_student_data_preprocessor_shared_and_batch_augments_run_once():
    cfg = tiny_distill_cfg()
    cfg.architecture['train_cfg'] = dict(
        augments=[dict(type='Mixup', alpha=0.8)])
    model = MODELS.build(cfg)
    assert model.data_preprocessor is model.architecture.data_preprocessor
    # the top-level data_preprocessor config reached the student
    torch.testing.assert_close(model.data_preprocessor.mean.flatten(),
                               torch.full((3, ), 127.5))
    seen = {}
    for name in ('architecture', 'teacher'):
        getattr(model, name).backbone.register_forward_pre_hook(
            lambda module, args, name=name: seen.setdefault(name, args[0]))
    train_steps(model, steps=1)
    assert torch.equal(seen['architecture'], seen['teacher'])
    # Mixup was applied: the labels became mixed scores
    recorder_inputs = []
    model.architecture.head.loss_module.register_forward_pre_hook(
        lambda module, args: recorder_inputs.append(args[1]))
    train_steps(model, steps=1)
    assert recorder_inputs[0].shape == (4, 3)


def test_explicit_preprocessor_module_is_used():
    from mmpretrain.models import ClsDataPreprocessor
    preprocessor = ClsDataPreprocessor(mean=[0, 0, 0], std=[1, 1, 1])
    model = build(data_preprocessor=preprocessor)
    assert model.data_preprocessor is preprocessor


def test_architecture_must_be_dict_or_module():
    cfg = tiny_distill_cfg()
    cfg.architecture = 'ImageClassifier'
    cfg.data_preprocessor = None
    with pytest.raises(TypeError, match='config dict or an nn.Module'):
        MODELS.build(cfg)


def test_modules_instead_of_configs():
    cfg = tiny_distill_cfg()
    student = MODELS.build(cfg.architecture)
    teacher = MODELS.build(cfg.teacher)
    model = SingleTeacherDistill(
        architecture=student, teacher=teacher, distiller=cfg.distiller)
    assert model.architecture is student and model.teacher is teacher
    train_steps(model, steps=1)


def count_calls(module):
    calls = []
    module.register_forward_pre_hook(lambda *args: calls.append(1))
    return calls


def test_teacher_runs_only_as_far_as_the_losses_need():
    model = build()  # mimics teacher block 0 only
    head_calls = count_calls(model.teacher.head)
    block1_calls = count_calls(model.teacher.backbone.layers[1])
    block0_calls = count_calls(model.teacher.backbone.layers[0])
    train_steps(model, steps=2)
    assert block0_calls == [1, 1]
    assert block1_calls == [] and head_calls == []


def test_teacher_head_runs_when_a_loss_reads_its_logits():
    cfg = tiny_distill_cfg()
    distiller = cfg.distiller
    distiller.student_recorders.update(
        logits=dict(type='ModuleOutputs', source='head.layers.head'),
        labels=dict(type='ModuleInputs', source='head.loss_module'))
    distiller.teacher_recorders.update(
        logits=dict(type='ModuleOutputs', source='head.layers.head'))
    distiller.distill_losses.update(loss_nkd=dict(type='NKDLoss'))
    distiller.loss_forward_mappings.update(
        loss_nkd=dict(
            logit_s=dict(from_student=True, recorder='logits'),
            logit_t=dict(from_student=False, recorder='logits'),
            gt_label=dict(from_student=True, recorder='labels', data_idx=1)))
    model = MODELS.build(cfg)
    head_calls = count_calls(model.teacher.head.layers.head)
    logs = train_steps(model, steps=1)
    assert head_calls == [1]
    assert 'distill.loss_nkd' in logs[0]
    # the early exit stopped the teacher right after its head, and the
    # recorded teacher logits are the real ones
    recorder = model.distiller.teacher_recorders.get_recorder('logits')
    data = model.data_preprocessor(fake_batch(seed=0), True)
    with torch.no_grad():
        expected = model.teacher(data['inputs'], mode='tensor')
    assert recorder.get_record_data().shape == expected.shape


class TeacherModeProbe(Hook):
    """Records the teacher's training flag around every iteration."""

    def __init__(self):
        self.flags = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.flags.append(runner.model.teacher.training)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.flags.append(runner.model.teacher.training)


def test_runner_keeps_teacher_in_eval_every_iteration(tmp_path):
    cfg = tiny_runner_cfg(tmp_path)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10)
    runner = Runner.from_cfg(cfg)
    probe = TeacherModeProbe()
    runner.register_hook(probe)
    runner.train()
    assert len(probe.flags) == 12 and not any(probe.flags)


def test_no_teacher_weights_is_a_warning_naming_teacher_ckpt(tmp_path, logs):
    tiny(tmp_path)
    assert any('model.teacher_ckpt is not set' in m for m in logs)
    logs.clear()
    cfg = tiny_distill_cfg()
    path = str(tmp_path / 'teacher.pth')
    torch.save(tiny_teacher_state(), path)
    cfg.teacher.init_cfg = dict(type='Pretrained', checkpoint=path)
    MODELS.build(cfg)
    assert not any('teacher_ckpt' in m for m in logs)


def test_teacher_off_its_resolution_is_a_warning(tmp_path, logs):
    """The cls_KD#5 trap: a teacher built (trained) for 32 px fed 40 px."""
    tiny(tmp_path, teacher_input=dict(size=40))
    warning, = [m for m in logs if 'The teacher is built for' in m]
    assert '(32, 32) inputs' in warning and 'run on (40, 40)' in warning
    assert 'teacher_input.size=(32, 32)' in warning
    logs.clear()
    tiny(tmp_path, teacher_input=dict(size=32))
    assert not any('The teacher is built for' in m for m in logs)


def test_non_finite_loss_stops_the_step_before_the_optimizer():
    model = MODELS.build(tiny_distill_cfg())
    model.train()
    before = copy.deepcopy(model.state_dict())
    batch = fake_batch()
    inputs = batch['inputs'][1].float()
    inputs[0, 5, 7] = float('nan')  # one NaN pixel in one image
    batch['inputs'][1] = inputs
    MessageHub.get_current_instance().update_info('iter', 6)
    with pytest.raises(FloatingPointError) as error:
        model.train_step(batch, optim_for(model))
    message = str(error.value)
    assert message.startswith('Non-finite loss at iteration 7: ')
    assert 'student.loss=nan' in message and 'distill.loss_mimic=nan' in \
        message and 'loss=nan' in message
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in model.parameters())


def test_non_finite_guard_can_be_turned_off():
    model = MODELS.build(dict(tiny_distill_cfg(), check_finite=False))
    batch = fake_batch()
    batch['inputs'][0] = torch.full((3, 32, 32), float('nan'))
    logs = model.train_step(batch, optim_for(model))
    assert torch.isnan(logs['loss'])
    assert torch.isnan(model.architecture.head.layers.head.weight).all()


def test_nkd_without_the_student_loss_names_calculate_student_loss():
    cfg = vitkd_cfg(nkd=dict(gamma=1.0))
    cfg.calculate_student_loss = False
    with pytest.raises(
            ValueError,
            match=r"calculate_student_loss=False runs the student in tensor "
            r"mode, which never calls 'head.loss_module', so "
            r'distiller.student_recorders.gt_labels would record nothing'):
        MODELS.build(cfg)


def held_batch(kind):
    if kind == 'mixup_cutmix_batch_of_1':
        return fake_batch(batch_size=1)
    batch = fake_batch(batch_size=2)
    if kind == 'constant_images':
        batch['inputs'] = [torch.full_like(x, 7) for x in batch['inputs']]
    elif kind == '30px_images':
        batch['inputs'] = [x[:, :30, :30] for x in batch['inputs']]
    elif kind == 'mixed_sizes_padded':
        batch['inputs'] = [batch['inputs'][0][:, :30, :28], batch['inputs'][1]]
    return batch


@pytest.mark.parametrize('kind', [
    'mixup_cutmix_batch_of_1', 'constant_images', '30px_images',
    'mixed_sizes_padded'
])
def test_held_batches_train_finitely_and_loss_sums_its_terms(kind):
    cfg = vitkd_cfg(nkd=dict(gamma=1.0))
    cfg.architecture.train_cfg = dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ])
    model = MODELS.build(cfg)
    data = model.data_preprocessor(held_batch(kind), True)
    losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    terms = [
        value for key, value in log_vars.items()
        if 'loss' in key and key != 'loss'
    ]
    assert set(log_vars) == {
        'loss', 'student.loss', 'distill.loss_mimic_0', 'distill.loss_mimic_1',
        'distill.loss_gen', 'distill.loss_nkd', 'distill.cos_mimic_0',
        'distill.cos_mimic_1', 'distill.cos_gen_masked',
        'distill.cos_gen_visible', 'distill.agree_top1_nkd'
    }
    assert all(torch.isfinite(value) for value in log_vars.values())
    torch.testing.assert_close(loss.detach(), sum(terms))
    loss.backward()


def test_is_labelled_reads_field_names_only():
    assert is_labelled([DataSample().set_gt_label(1)])
    assert is_labelled([DataSample().set_gt_score(torch.ones(3))])
    assert not is_labelled([LabelTrap(), LabelTrap()])
    assert not is_labelled([DataSample().set_gt_label(1), DataSample()])
    assert not is_labelled(None)


@pytest.mark.parametrize('changes, key', [
    (dict(), 'model.calculate_student_loss=True'),
    (dict(calculate_student_loss=False,
          teacher_trainable=True), 'model.teacher_trainable=True'),
])
def test_label_readers_on_unlabelled_batch_are_refused(changes, key):
    cfg = tiny_distill_cfg()
    cfg.update(changes)
    model = MODELS.build(cfg)
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match='This batch has no labels') as info:
        step(model, unlabelled(fake_batch()))
    assert key in str(info.value)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_batch_augments_on_unlabelled_batch_are_refused():
    """mmpretrain skips Mixup/CutMix on a batch without labels: silently
    mixing nothing is refused, naming the key."""

    def build(train_cfg):
        cfg = tiny_distill_cfg()
        cfg.calculate_student_loss = False
        cfg.architecture.head = None
        cfg.architecture.train_cfg = train_cfg
        return MODELS.build(cfg)

    model = build(dict(augments=[dict(type='Mixup', alpha=1.)]))
    with pytest.raises(ValueError, match=r'architecture\.train_cfg\.augments'):
        step(model, unlabelled(fake_batch()))
    log = step(build(None), unlabelled(fake_batch()))
    assert set(log) == {'loss', 'distill.loss_mimic', 'distill.cos_mimic'}


def test_unread_student_head_is_a_warning(logs):
    """Without the student's loss, a head no term reads gets no gradient."""
    cfg = tiny_distill_cfg()
    cfg.calculate_student_loss = False
    MODELS.build(copy.deepcopy(cfg))
    assert any('set model.architecture.head=None' in m for m in logs)
    logs.clear()
    cfg.architecture.head = None
    MODELS.build(cfg)
    assert not any('architecture.head' in m for m in logs)
