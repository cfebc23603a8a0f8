"""MimicConnector: the projection of the student's tokens to the
teacher's dims."""
import pytest
import torch
from torch import nn

from vitkd_mm.models.connectors import MimicConnector


def test_mimic_connector_projection():
    connector = MimicConnector(4, 6, num_extra_tokens=2)
    assert isinstance(connector.proj, nn.Linear)
    x = torch.rand(3, 2 + 5, 4)
    out = connector(x)
    assert out.shape == (3, 5, 6)
    W, bias = connector.proj.weight, connector.proj.bias  # 6 x 4, 6
    for b in range(3):
        for n in range(5):
            expected = [
                sum(W[o, i] * x[b, n + 2, i] for i in range(4)) + bias[o]
                for o in range(6)
            ]
            torch.testing.assert_close(out[b, n], torch.stack(expected))


def test_mimic_connector_identity_when_dims_equal():
    connector = MimicConnector(8, 8)
    assert isinstance(connector.proj, nn.Identity)
    assert list(connector.parameters()) == []
    x = torch.rand(2, 1 + 6, 8)
    assert torch.equal(connector(x), x[:, 1:])


def test_mimic_connector_wrong_dims():
    with pytest.raises(ValueError, match=r'student_dims=8 .*\(2, 6, 4\)'):
        MimicConnector(8, 16)(torch.rand(2, 7, 4))
