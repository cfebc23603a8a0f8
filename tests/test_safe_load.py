"""torch.load(weights_only=True) reads mmengine checkpoints, nothing more."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

import vitkd_mm  # noqa: F401


def roundtrip(obj, path):
    torch.save(obj, path)
    return torch.load(path)  # weights_only=True is torch's default


def test_weights_only_is_the_default():
    import inspect
    default = inspect.signature(torch.load).parameters['weights_only']
    assert default.default in (None, True)


def test_message_hub_state_roundtrips(tmp_path):
    hub = MessageHub.get_instance('test_safe_load')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', np.float64(2.5))
    hub.update_info('epoch', 3)
    state = roundtrip(
        dict(meta=dict(message_hub=hub.state_dict()),
             state_dict=dict(w=torch.ones(2))), tmp_path / 'ckpt.pth')
    buffer = state['meta']['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == 2.0 and buffer.statistics('max') == 2.5
    assert state['meta']['message_hub']['runtime_info']['epoch'] == 3


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


class _GetattrPayload:
    """Pickles as getattr(HistoryBuffer, '__init__'), a disallowed lookup."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


class _SystemPayload:

    def __reduce__(self):
        import os
        return os.system, ('echo unsafe',)


@pytest.mark.parametrize('payload', [_GetattrPayload(), _SystemPayload()])
def test_other_globals_still_refused(tmp_path, payload):
    path = tmp_path / 'evil.pth'
    torch.save(dict(x=payload), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_needed_because_plain_torch_refuses_mmengine_state(tmp_path):
    """Without vitkd_mm's allow-list the same file does not load."""
    import subprocess
    import sys
    hub = MessageHub.get_instance('test_safe_load_plain')
    hub.update_scalar('train/loss', 1.0)
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(message_hub=hub.state_dict()), path)
    code = f'import torch; torch.load({str(path)!r})'
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert 'weights_only' in result.stderr
    torch.load(path)  # with vitkd_mm imported it loads
