"""BaseRecorder: reading a record by record_idx and data_idx."""
import pytest
import torch

from tests.utils import TwoLayers
from vitkd_mm.models.recorders import ModuleOutputs


def test_record_idx_out_of_range_and_bad_data_idx():
    model = TwoLayers()
    recorder = ModuleOutputs('second')
    recorder.initialize(model)
    with recorder:
        model(torch.rand(1, 4))
    with pytest.raises(IndexError, match='record_idx=1'):
        recorder.get_record_data(record_idx=1)
    with pytest.raises(TypeError, match='data_idx=0'):
        recorder.get_record_data(data_idx=0)
