"""SingleTeacherDistill: teacher handling, loss keys, modes, checkpoints."""
import copy

import pytest
import torch
from mmengine.optim import OptimWrapper

from tests.utils import fake_batch, tiny_distill_cfg
from vitkd_mm.models import SingleTeacherDistill
from vitkd_mm.registry import MODELS

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def build(**changes):
    cfg = tiny_distill_cfg()
    cfg.update(changes)
    return MODELS.build(cfg)


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


def save_teacher(model, path, wrap=True, prefix=''):
    state = {prefix + k: v for k, v in model.teacher.state_dict().items()}
    torch.save(dict(state_dict=state) if wrap else state, path)


@pytest.mark.parametrize('wrap', [True, False])
def test_teacher_ckpt_loaded_and_kept_by_init_weights(tmp_path, wrap):
    source = build()
    path = str(tmp_path / 'teacher.pth')
    save_teacher(source, path, wrap=wrap)
    model = build(teacher_ckpt=path)
    model.init_weights()  # what the Runner does after building
    for key, value in source.teacher.state_dict().items():
        assert torch.equal(model.teacher.state_dict()[key], value), key


def partial_teacher_ckpt(tmp_path):
    """A teacher checkpoint without the head weight, with one extra key."""
    state = build().teacher.state_dict()
    state.pop('head.layers.head.weight')
    state['extra.weight'] = torch.zeros(1)
    path = str(tmp_path / 'partial.pth')
    torch.save(dict(state_dict=state), path)
    return path, state


def test_partial_teacher_ckpt_is_refused_by_default(tmp_path):
    path, _ = partial_teacher_ckpt(tmp_path)
    with pytest.raises(ValueError) as error:
        build(teacher_ckpt=path)
    message = str(error.value)
    assert 'missing keys (1): head.layers.head.weight' in message
    assert 'unexpected keys (1): extra.weight' in message
    assert 'teacher_ckpt_strict=False' in message


def test_partial_teacher_ckpt_opt_out_inits_the_rest(tmp_path, monkeypatch):
    from vitkd_mm.models.algorithms import teacher_checkpoint
    logged = []
    monkeypatch.setattr(teacher_checkpoint, 'print_log',
                        lambda msg, *args: logged.append((msg, args)))
    path, state = partial_teacher_ckpt(tmp_path)
    model = build(teacher_ckpt=path, teacher_ckpt_strict=False)
    model.init_weights()
    (message, (_, level)), = logged
    assert level == 30 and 'missing keys (1): head.layers.head.weight' in \
        message and 'unexpected keys (1): extra.weight' in message
    loaded = model.teacher.state_dict()
    for key, value in state.items():
        if key != 'extra.weight':
            assert torch.equal(loaded[key], value), key
    # the missing head got the head's own init (zeros), not a random one
    assert torch.equal(loaded['head.layers.head.weight'],
                       torch.zeros_like(loaded['head.layers.head.weight']))


def test_teacher_ckpt_matching_nothing_is_an_error(tmp_path):
    source = build()
    path = str(tmp_path / 'wrong_prefix.pth')
    save_teacher(source, path, prefix='backbone.module.')
    with pytest.raises(ValueError, match='matches no key of the teacher'):
        build(teacher_ckpt=path)


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
