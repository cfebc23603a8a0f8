"""The allow-list of what a checkpoint may hold: mmengine's state, numpy
and builtin values round-trip; allow-listed globals used outside their
purpose are refused."""
import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from tests.utils import check_message_hub_checkpoint, message_hub_checkpoint
from vitkd_mm.utils import UnsafeCheckpointError, safe_torch_load


def roundtrip(obj, path):
    torch.save(obj, path)
    return safe_torch_load(path)


def test_message_hub_state_roundtrips(tmp_path):
    state = roundtrip(
        message_hub_checkpoint('test_checkpoint_allowlist'),
        tmp_path / 'ckpt.pth')
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


class GetattrPayload:
    """An allow-listed global used outside its purpose."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


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
