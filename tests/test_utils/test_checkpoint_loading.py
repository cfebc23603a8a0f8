"""Checkpoints load without running code, through every loading path
(teacher_ckpt, load_from, --resume, http and model-zoo names), on every
supported torch; a file torch cannot read is named.

The ``evil`` and ``unreadable`` fixtures are in tests/conftest.py."""
import functools
import http.server
import pickle
import subprocess
import sys
import threading

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

from tests.utils import (TINY_CONFIG, SystemPayload,
                         check_message_hub_checkpoint,
                         check_unreadable_message, message_hub_checkpoint,
                         tiny_distill_cfg)
from vitkd_mm.registry import MODELS
from vitkd_mm.utils import (UnreadableCheckpointError, UnsafeCheckpointError,
                            checkpoint_loading, safe_torch_load)

NEW_TORCH = checkpoint_loading.TORCH_CHECKS_GLOBALS

needs_torch_2_6 = pytest.mark.skipif(
    not NEW_TORCH,
    reason='torch >= 2.6 behaviour (weights_only=True by default, '
    'add_safe_globals); torch ' + torch.__version__)


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


def test_torchscript_archive_is_refused(tmp_path):
    path = tmp_path / 'scripted.pth'
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(UnsafeCheckpointError, match='TorchScript'):
        safe_torch_load(path)


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


def test_missing_teacher_ckpt_names_key(tmp_path):
    with pytest.raises(FileNotFoundError, match='^teacher_ckpt: .*missing'):
        build_distill(str(tmp_path / 'missing.pth'))
