"""ModuleOutputs and ModuleInputs: forward hooks on a named submodule."""
import pytest
import torch
from torch import nn

from tests.utils import TwoLayers
from vitkd_mm.models.recorders import ModuleInputs, ModuleOutputs


def test_module_outputs_records_only_inside_context():
    model = TwoLayers()
    recorder = ModuleOutputs('first')
    recorder.initialize(model)
    x = torch.rand(5, 4)
    model(x)
    assert recorder.data_buffer == []
    with recorder:
        model(x)
        model(x + 1)
    model(x)  # outside: not recorded
    assert len(recorder.data_buffer) == 2
    torch.testing.assert_close(recorder.get_record_data(0), model.first(x))
    torch.testing.assert_close(recorder.get_record_data(1), model.first(x + 1))
    with recorder:  # entering resets the buffer
        assert recorder.data_buffer == []


def test_module_inputs_data_idx():
    model = nn.Sequential(nn.Linear(4, 3))
    loss = nn.MSELoss()
    recorder = ModuleInputs('')
    # '' is the root module: not allowed, sources name submodules.
    with pytest.raises(ValueError, match="source=''"):
        recorder.initialize(model)

    holder = nn.Module()
    holder.loss_module = loss
    recorder = ModuleInputs('loss_module')
    recorder.initialize(holder)
    pred, target = torch.rand(2, 3), torch.rand(2, 3)
    with recorder:
        holder.loss_module(pred, target)
    assert recorder.get_record_data(data_idx=1) is target
    assert recorder.get_record_data(data_idx=0) is pred


def test_unknown_source_lists_valid_modules():
    recorder = ModuleOutputs('third')
    with pytest.raises(ValueError, match=r"source='third'.*first, second"):
        recorder.initialize(TwoLayers())
