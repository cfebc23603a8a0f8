"""restricted_pickle, the loader of torch < 2.6, reads mmengine's state."""
import torch

from tests.utils import check_message_hub_checkpoint, message_hub_checkpoint
from vitkd_mm.utils import restricted_pickle


def test_restricted_unpickler_reads_mmengine_state(tmp_path):
    """The torch < 2.6 path, checked on whatever torch runs the tests."""
    path = tmp_path / 'ckpt.pth'
    torch.save(message_hub_checkpoint('test_restricted'), path)
    check_message_hub_checkpoint(
        torch.load(path, pickle_module=restricted_pickle))
