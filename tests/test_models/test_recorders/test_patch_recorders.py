"""MethodOutputs and FunctionOutputs: patches that exist only inside the
recording context."""
import gc
import weakref

import pytest
import torch
from torch import nn

# test_method_outputs records f'{__name__}.TwoLayers.double'
from tests.utils import TwoLayers  # noqa: F401
from vitkd_mm.models.recorders import FunctionOutputs, MethodOutputs


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


class Owner(nn.Module):

    def forward(self, x):
        return self.scale(x) + self.shift(x) + self.offset(x)

    def scale(self, x):
        return 2 * x

    @staticmethod
    def shift(x):
        return x + 1

    @classmethod
    def offset(cls, x):
        return x - 1


@pytest.mark.parametrize('method', ['scale', 'shift', 'offset'])
def test_method_patch_exists_only_inside_the_context(method):
    original = Owner.__dict__[method]
    models = [Owner() for _ in range(4)]
    recorders = []
    for model in models:
        recorder = MethodOutputs(f'{__name__}.Owner.{method}')
        recorder.initialize(model)
        recorders.append(recorder)
    assert Owner.__dict__[method] is original  # nothing patched yet
    x = torch.ones(2)
    with recorders[1]:
        assert Owner.__dict__[method] is not original
        models[1](x)
        models[1](x)
    assert Owner.__dict__[method] is original  # restored, no stacking
    expected = dict(scale=2 * x, shift=x + 1, offset=x - 1)[method]
    assert len(recorders[1].data_buffer) == 2
    torch.testing.assert_close(recorders[1].get_record_data(1), expected)
    assert all(r.data_buffer == [] for r in recorders if r is not recorders[1])


def test_method_recorder_ignores_other_models_and_frees_its_own():
    model, other = Owner(), Owner()
    recorder = MethodOutputs(f'{__name__}.Owner.scale')
    recorder.initialize(model)
    with recorder:
        other(torch.ones(1))  # another model of the same class
    assert recorder.data_buffer == []
    with recorder:
        model(torch.ones(1))
    assert len(recorder.data_buffer) == 1
    # an inherited method: patched on the subclass, then removed again
    sub_recorder = MethodOutputs(f'{__name__}.SubOwner.scale')
    sub_recorder.initialize(SubOwner())
    with sub_recorder:
        assert 'scale' in SubOwner.__dict__
    assert 'scale' not in SubOwner.__dict__
    # a recorder of a deleted model is not kept alive by any patch
    alive = weakref.ref(recorder)
    del recorder, model
    gc.collect()
    assert alive() is None


class SubOwner(Owner):
    pass
