"""read_state_dict, as teacher_ckpt reads a file: published wrappers load;
a file without a state dict, a directory and an unreachable URL are errors
naming the key and the file."""
import pytest
import torch

from tests.utils import tiny_distill as tiny
from tests.utils import tiny_teacher_state

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


@pytest.mark.parametrize('wrapper', ['model', 'state_dict', None])
def test_published_wrappers_load(tmp_path, wrapper):
    """DeiT's releases wrap the weights as {'model': ...}."""
    state = tiny_teacher_state()
    path = str(tmp_path / 'teacher.pth')
    torch.save(state if wrapper is None else {wrapper: state}, path)
    model = tiny(tmp_path, teacher_ckpt=path)
    for key, value in state.items():
        assert torch.equal(model.teacher.state_dict()[key], value), key


@pytest.mark.parametrize('content, words', [
    (torch.zeros(3), 'holds a Tensor, not a state dict'),
    ([torch.zeros(3)], 'holds a list, not a state dict'),
])
def test_checkpoint_without_a_state_dict_names_key_and_file(
        tmp_path, content, words):
    path = str(tmp_path / 'teacher.pth')
    torch.save(content, path)
    with pytest.raises(TypeError) as error:
        tiny(tmp_path, teacher_ckpt=path)
    assert str(error.value).startswith(f'teacher_ckpt={path!r} {words}')


def test_directory_as_teacher_ckpt_names_key(tmp_path):
    with pytest.raises(
            FileNotFoundError, match=r"^teacher_ckpt='.*' is a directory"):
        tiny(tmp_path, teacher_ckpt=str(tmp_path))


def test_unreachable_url_says_how_to_use_a_local_copy(tmp_path, monkeypatch):
    """Port 9 on loopback refuses the connection, as an offline node does."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    url = 'http://127.0.0.1:9/deit3-small.pth'
    with pytest.raises(ConnectionError) as error:
        tiny(tmp_path, teacher_ckpt=url)
    message = str(error.value)
    assert message.startswith(f'teacher_ckpt: cannot download {url}')
    assert '--cfg-options model.teacher_ckpt=PATH' in message
