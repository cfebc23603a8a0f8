import pytest
import torch
from torch import nn

from vitkd_mm.models.recorders import (FunctionOutputs, MethodOutputs,
                                       ModuleInputs, ModuleOutputs,
                                       RecorderManager)


class TwoLayers(nn.Module):

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(4, 3)
        self.second = nn.Linear(3, 2)

    def forward(self, x):
        return self.second(self.first(x))

    def double(self, x):
        return 2 * x


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


def test_unknown_source_lists_valid_modules():
    recorder = ModuleOutputs('third')
    with pytest.raises(ValueError, match=r"source='third'.*first, second"):
        recorder.initialize(TwoLayers())


def test_method_outputs():
    recorder = MethodOutputs(f'{__name__}.TwoLayers.double')
    recorder.initialize()
    model = TwoLayers()
    with recorder:
        model.double(torch.ones(2))
    torch.testing.assert_close(recorder.get_record_data(), 2 * torch.ones(2))


def test_function_outputs():
    import tests.utils as helpers
    recorder = FunctionOutputs('tests.utils.add_one')
    recorder.initialize()
    with recorder:
        helpers.add_one(3)
        helpers.add_one(4)
    assert recorder.data_buffer == [4, 5]


def test_recorder_manager_unknown_type():
    with pytest.raises(KeyError, match='student_recorders.deep'):
        RecorderManager(
            dict(deep=dict(type='NoSuchRecorder', source='x')),
            'student_recorders')
