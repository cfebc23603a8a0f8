"""Checkpoints load without running code, through every loading path, on
every supported torch; mmengine checkpoints still load."""
import functools
import http.server
import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

from tests.utils import TINY_CONFIG, tiny_distill_cfg
from vitkd_mm.registry import MODELS
from vitkd_mm.utils import (UnreadableCheckpointError, UnsafeCheckpointError,
                            checkpoint_loading, restricted_pickle,
                            safe_torch_load)

NEW_TORCH = checkpoint_loading.TORCH_CHECKS_GLOBALS
needs_torch_2_6 = pytest.mark.skipif(
    not NEW_TORCH,
    reason='torch >= 2.6 behaviour (weights_only=True by default, '
    'add_safe_globals); torch ' + torch.__version__)


def message_hub_checkpoint(name):
    """A checkpoint as mmengine writes it: HistoryBuffers holding numpy."""
    hub = MessageHub.get_instance(name)
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', np.float64(2.5))
    hub.update_info('epoch', 3)
    return dict(
        meta=dict(message_hub=hub.state_dict()),
        state_dict=dict(w=torch.ones(2)))


def check_message_hub_checkpoint(state):
    buffer = state['meta']['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == 2.0 and buffer.statistics('max') == 2.5
    assert state['meta']['message_hub']['runtime_info']['epoch'] == 3
    assert torch.equal(state['state_dict']['w'], torch.ones(2))


def roundtrip(obj, path):
    torch.save(obj, path)
    return safe_torch_load(path)


def test_message_hub_state_roundtrips(tmp_path):
    state = roundtrip(
        message_hub_checkpoint('test_safe_load'), tmp_path / 'ckpt.pth')
    check_message_hub_checkpoint(state)


@pytest.mark.parametrize('value', [
    np.arange(4, dtype=np.int64),
    np.linspace(0, 1, 3, dtype=np.float32),
    np.dtype('float16'),
    np.float64(0.25),
])
def test_numpy_values_roundtrip(tmp_path, value):
    loaded = roundtrip(dict(v=value), tmp_path / 'np.pth')['v']
    assert type(loaded) is type(value)
    np.testing.assert_array_equal(loaded, value)


@pytest.mark.parametrize('value', [{1, 2}, b'bytes', 1 + 2j, (1, 'a')])
def test_builtin_values_roundtrip(tmp_path, value):
    loaded = roundtrip(dict(v=value), tmp_path / 'builtin.pth')['v']
    assert type(loaded) is type(value) and loaded == value


def test_restricted_unpickler_reads_mmengine_state(tmp_path):
    """The torch < 2.6 path, checked on whatever torch runs the tests."""
    path = tmp_path / 'ckpt.pth'
    torch.save(message_hub_checkpoint('test_restricted'), path)
    check_message_hub_checkpoint(
        torch.load(path, pickle_module=restricted_pickle))


@needs_torch_2_6
def test_weights_only_is_the_default():
    import inspect
    default = inspect.signature(torch.load).parameters['weights_only']
    assert default.default in (None, True)


@needs_torch_2_6
def test_plain_torch_load_reads_mmengine_state(tmp_path):
    """Importing vitkd_mm allow-lists the types for torch's own loader."""
    path = tmp_path / 'ckpt.pth'
    torch.save(message_hub_checkpoint('test_plain_load'), path)
    check_message_hub_checkpoint(torch.load(path))
    code = f'import torch; torch.load({str(path)!r})'
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True,
                            text=True)
    assert result.returncode != 0  # without vitkd_mm it does not load
    assert 'weights_only' in result.stderr


# --- payloads ----------------------------------------------------------


class SystemPayload:
    """Unpickling it runs ``touch MARKER``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class GetattrPayload:
    """An allow-listed global used outside its purpose."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


def write_pickle(path, obj, fmt):
    """``fmt``: torch's zip format, its legacy format, or a bare pickle."""
    if fmt == 'zip':
        torch.save(obj, path)
    elif fmt == 'legacy':
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:
        with open(path, 'wb') as f:
            pickle.dump(obj, f, protocol=2)


@pytest.fixture(params=['zip', 'legacy', 'raw'])
def evil(request, tmp_path):
    """A checkpoint holding an ``os.system`` payload, and its marker."""
    marker = tmp_path / 'payload_ran'
    path = tmp_path / f'evil_{request.param}.pth'
    # a bare pickle of a tensor would name torch.storage._load_from_bytes
    weights = dict(w=torch.ones(1)) if request.param != 'raw' else {}
    write_pickle(path, dict(state_dict=weights, meta=SystemPayload(marker)),
                 request.param)
    yield str(path), marker
    assert not marker.exists(), 'the payload ran'


def test_payload_marker_works(tmp_path):
    """The payloads would run under a plain unpickler (the test's premise)."""
    marker = tmp_path / 'ran'
    pickle.loads(pickle.dumps(SystemPayload(marker)))
    assert marker.exists()


def test_safe_torch_load_refuses_payload(evil):
    path, _ = evil
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_torch_load(path)
    message = str(info.value)
    assert path in message and 'system' in message
    assert 'weights_only' not in message


# HistoryBuffer (GLOBAL), state (None, {'mean': 1}), BUILD, STOP
BUILD_ON_CLASS = (b'\x80\x02cmmengine.logging.history_buffer\nHistoryBuffer\n'
                  b'N}X\x04\x00\x00\x00meanK\x01s\x86b.')


@pytest.mark.parametrize('payload', [
    GetattrPayload(HistoryBuffer, '__init__'),
    GetattrPayload(np.ndarray, 'tofile'),
    GetattrPayload(torch.Tensor, 'numpy'),
])
def test_allow_listed_getattr_is_restricted(tmp_path, payload):
    path = tmp_path / 'getattr.pth'
    torch.save(dict(x=payload), path)
    with pytest.raises(UnsafeCheckpointError, match='getattr'):
        safe_torch_load(path)


def test_build_on_an_allow_listed_class_is_refused(tmp_path):
    path = tmp_path / 'build.pth'
    path.write_bytes(BUILD_ON_CLASS)
    mean = HistoryBuffer.mean
    with pytest.raises(UnsafeCheckpointError):
        safe_torch_load(path)
    assert HistoryBuffer.mean is mean


def test_torchscript_archive_is_refused(tmp_path):
    path = tmp_path / 'scripted.pth'
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(UnsafeCheckpointError, match='TorchScript'):
        safe_torch_load(path)


# --- every loading path -------------------------------------------------


def build_distill(teacher_ckpt):
    from mmengine.registry import DefaultScope
    cfg = tiny_distill_cfg()
    cfg.teacher_ckpt = teacher_ckpt
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg)


def test_teacher_ckpt_refuses_payload(evil):
    path, _ = evil
    with pytest.raises(UnsafeCheckpointError, match='^teacher_ckpt: Refused'):
        build_distill(path)


def tiny_runner(tmp_path, **changes):
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.work_dir = str(tmp_path / 'work_dir')
    cfg.update(changes)
    return Runner.from_cfg(cfg)


def test_load_from_refuses_payload(evil, tmp_path):
    path, _ = evil
    runner = tiny_runner(tmp_path, load_from=path)
    with pytest.raises(UnsafeCheckpointError, match='Refused'):
        runner.load_or_resume()


def test_resume_refuses_payload(evil, tmp_path):
    """``--resume`` takes the work dir's ``last_checkpoint``."""
    path, _ = evil
    work_dir = tmp_path / 'work_dir'
    work_dir.mkdir()
    (work_dir / 'last_checkpoint').write_text(path)
    runner = tiny_runner(tmp_path, resume=True)
    with pytest.raises(UnsafeCheckpointError, match='Refused'):
        runner.load_or_resume()


@pytest.fixture
def convert_to_student(monkeypatch, capsys):
    """Run tools/model_converters/convert_to_student.py in-process: (exit
    status, stderr)."""
    from model_converters import convert_to_student as tool

    def convert(*args):
        monkeypatch.setattr(sys, 'argv',
                            ['convert_to_student.py', *map(str, args)])
        try:
            tool.main()
        except SystemExit as exit:
            code = exit.code
        else:
            code = 0
        stderr = capsys.readouterr().err
        # SystemExit('message') prints the message and exits with 1
        return (1, stderr + code) if isinstance(code, str) else (code, stderr)

    return convert


def test_convert_to_student_refuses_payload(evil, tmp_path,
                                            convert_to_student):
    path, _ = evil
    code, stderr = convert_to_student(path, tmp_path / 'student.pth')
    assert code == 1
    assert 'src: Refused to load' in stderr and path in stderr
    assert not (tmp_path / 'student.pth').exists()


@pytest.fixture
def http_root(tmp_path, monkeypatch):
    """A folder served on localhost; torch hub's cache in tmp_path."""
    root = tmp_path / 'www'
    root.mkdir()
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.setenv('no_proxy', '127.0.0.1')
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f'http://127.0.0.1:{server.server_port}'
    server.shutdown()
    server.server_close()


def test_http_checkpoint_loads_and_payload_is_refused(http_root, tmp_path):
    """mmengine's own http loader unpickles fully, on every torch."""
    root, url = http_root
    torch.save(message_hub_checkpoint('test_http'), root / 'good.pth')
    check_message_hub_checkpoint(_load_checkpoint(f'{url}/good.pth'))
    marker = tmp_path / 'payload_ran'
    torch.save(dict(meta=SystemPayload(marker)), root / 'evil.pth')
    with pytest.raises(UnsafeCheckpointError, match='Refused'):
        _load_checkpoint(f'{url}/evil.pth')
    assert not marker.exists()


def test_model_zoo_names_load_through_the_safe_http_loader(
        http_root, tmp_path, monkeypatch):
    from mmengine.runner import checkpoint as mmengine_checkpoint
    root, url = http_root
    marker = tmp_path / 'payload_ran'
    torch.save(dict(meta=SystemPayload(marker)), root / 'net.pth')
    monkeypatch.setattr(mmengine_checkpoint, 'get_torchvision_models',
                        lambda: dict(net=f'{url}/net.pth'))
    with pytest.raises(UnsafeCheckpointError, match='Refused'):
        _load_checkpoint('torchvision://net')
    assert not marker.exists()


@pytest.mark.parametrize('prefix', [
    '', 'http://', 'https://', 'torchvision://', 'modelzoo://',
    'open-mmlab://', 'openmmlab://', 'mmcls://', 'pavi://', 's3://',
    'petrel://', 'open-mmlab:s3://'
])
def test_every_mmengine_scheme_has_a_safe_loader(prefix):
    loader = CheckpointLoader._get_checkpoint_loader(prefix + 'net.pth')
    assert loader.__module__ == checkpoint_loading.__name__


@pytest.mark.parametrize('name', ['pavi://net.pth', 's3://bucket/net.pth'])
def test_schemes_mmengine_unpickles_fully_are_refused(name):
    with pytest.raises(UnsafeCheckpointError, match='Download the file'):
        _load_checkpoint(name)


# --- unreadable files ---------------------------------------------------


@pytest.fixture(params=['random', 'truncated', 'empty'])
def unreadable(request, tmp_path):
    path = tmp_path / f'{request.param}.pth'
    if request.param == 'random':
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif request.param == 'truncated':
        torch.save(dict(state_dict=dict(w=torch.ones(64))), path)
        path.write_bytes(path.read_bytes()[:300])
    else:
        path.write_bytes(b'')
    return str(path)


def check_unreadable_message(message, path):
    assert 'Cannot read checkpoint' in message and path in message
    assert 'empty, truncated, corrupt' in message
    assert 'weights_only' not in message


def test_teacher_ckpt_unreadable_names_key_and_file(unreadable):
    with pytest.raises(UnreadableCheckpointError) as info:
        build_distill(unreadable)
    assert str(info.value).startswith('teacher_ckpt: Cannot read checkpoint')
    check_unreadable_message(str(info.value), unreadable)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_load_from_unreadable_names_file(unreadable, tmp_path):
    runner = tiny_runner(tmp_path, load_from=unreadable)
    with pytest.raises(UnreadableCheckpointError) as info:
        runner.load_or_resume()
    check_unreadable_message(str(info.value), unreadable)


def test_convert_to_student_unreadable_names_src(unreadable, tmp_path,
                                                 convert_to_student):
    code, stderr = convert_to_student(unreadable, tmp_path / 'student.pth')
    assert code == 1
    assert 'src: Cannot read checkpoint' in stderr
    check_unreadable_message(stderr, unreadable)


def test_missing_teacher_ckpt_names_key(tmp_path):
    with pytest.raises(FileNotFoundError, match='^teacher_ckpt: .*missing'):
        build_distill(str(tmp_path / 'missing.pth'))


# --- convert_to_student never destroys a file ---------------------------


@pytest.fixture
def distill_ckpt(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    torch.save(
        dict(
            state_dict={
                'architecture.backbone.w': torch.ones(2),
                'teacher.backbone.w': torch.zeros(3)
            }), path)
    return path


@pytest.mark.parametrize('same', ['path', 'symlink', 'dotted'])
def test_convert_to_student_refuses_to_overwrite_its_input(
        distill_ckpt, convert_to_student, same):
    before = distill_ckpt.read_bytes()
    dst = dict(
        path=distill_ckpt,
        symlink=distill_ckpt.parent / 'link.pth',
        dotted=distill_ckpt.parent / '.' / 'sub' / '..' / distill_ckpt.name)
    dst = dst[same]
    if same == 'symlink':
        dst.symlink_to(distill_ckpt)
    if same == 'dotted':
        (distill_ckpt.parent / 'sub').mkdir()
    code, stderr = convert_to_student(distill_ckpt, dst)
    assert code == 2
    assert f'dst: {dst} is the input checkpoint' in stderr
    assert distill_ckpt.read_bytes() == before


def test_convert_to_student_overwrites_an_output_only_with_force(
        distill_ckpt, convert_to_student, tmp_path):
    dst = tmp_path / 'student.pth'
    dst.write_bytes(b'older student')
    code, stderr = convert_to_student(distill_ckpt, dst)
    assert code == 2
    assert f'dst: {dst} exists; pass --force' in stderr
    assert dst.read_bytes() == b'older student'

    assert convert_to_student(distill_ckpt, dst, '--force')[0] == 0
    student = safe_torch_load(dst)['state_dict']
    assert list(student) == ['backbone.w']
    assert torch.equal(student['backbone.w'], torch.ones(2))


def test_convert_to_student_names_a_missing_input(tmp_path,
                                                  convert_to_student):
    code, stderr = convert_to_student(tmp_path / 'no.pth', tmp_path / 'o.pth')
    assert code == 2 and f'src: {tmp_path / "no.pth"} is not a file' in stderr


def test_convert_to_student_names_a_dst_that_is_a_folder(
        distill_ckpt, convert_to_student, tmp_path):
    code, stderr = convert_to_student(distill_ckpt, tmp_path, '--force')
    assert code == 2
    assert (f'dst: {tmp_path} is a folder; give the path of the file to '
            f'write, e.g. {tmp_path / "student.pth"}') in stderr


def test_convert_to_student_names_a_dst_folder_it_cannot_create(
        distill_ckpt, convert_to_student, tmp_path):
    (tmp_path / 'out').write_text('a file')
    dst = tmp_path / 'out' / 'student.pth'
    code, stderr = convert_to_student(distill_ckpt, dst)
    assert code == 2
    assert (f'dst: cannot create the folder of {dst}: {tmp_path / "out"} '
            'is a file') in stderr
    assert (tmp_path / 'out').read_text() == 'a file'


def test_convert_to_student_names_a_src_that_is_no_checkpoint(
        tmp_path, convert_to_student):
    src = tmp_path / 'tensor.pth'
    torch.save(torch.ones(2), src)
    code, stderr = convert_to_student(src, tmp_path / 'student.pth')
    assert code == 1 and 'Traceback' not in stderr
    assert (f'convert_to_student.py: src: {src}: a checkpoint is a dict '
            'with a state_dict, got a Tensor.') in stderr
    assert not (tmp_path / 'student.pth').exists()
