"""StrictPretrained: a part of a model initialised from a file, strictly."""
import copy

import pytest
import torch

from tests.utils import SystemPayload, tiny_distill_cfg
from vitkd_mm.registry import MODELS
from vitkd_mm.utils import UnsafeCheckpointError

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


def tiny_classifier(init_cfg=None, embed_dims=16):
    cfg = copy.deepcopy(tiny_distill_cfg().architecture)
    cfg.backbone.arch.embed_dims = embed_dims
    cfg.head.in_channels = embed_dims
    cfg.init_cfg = init_cfg
    return MODELS.build(cfg)


def saved_backbone(tmp_path, state=None, wrap=True):
    torch.manual_seed(0)
    source = tiny_classifier()
    source.init_weights()
    state = state or {
        f'backbone.{k}': v
        for k, v in source.backbone.state_dict().items()
    }
    path = str(tmp_path / 'export.pth')
    torch.save(dict(state_dict=state) if wrap else state, path)
    return source, path


def strict(path, prefix='backbone.'):
    return dict(
        type='vitkd_mm.StrictPretrained', checkpoint=path, prefix=prefix)


@pytest.mark.parametrize('wrap', [True, False])
def test_strict_pretrained_loads_the_part_and_keeps_it(tmp_path, wrap):
    """Every backbone weight, ``pos_embed`` included (mmpretrain's ViT
    redraws it in its own ``init_weights``), comes from the file."""
    source, path = saved_backbone(tmp_path, wrap=wrap)
    torch.manual_seed(1)
    model = tiny_classifier(strict(path))
    model.init_weights()
    for key, value in source.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[key], value), key
    assert model.head.layers.head.weight.abs().sum() == 0


def test_strict_pretrained_refuses_what_does_not_fit(tmp_path):
    source, path = saved_backbone(tmp_path)
    state = {
        f'backbone.{k}': v
        for k, v in source.backbone.state_dict().items()
    }
    del state['backbone.cls_token']
    (tmp_path / 'missing').mkdir()
    _, missing = saved_backbone(tmp_path / 'missing', state)
    cases = [
        (tiny_classifier(strict(path), embed_dims=24), 'shape mismatches'),
        (tiny_classifier(strict(missing)), r'missing keys \(1\): cls_token'),
        (tiny_classifier(strict(path, 'head.')), "no key of the file starts"),
        (tiny_classifier(strict(path, 'neck.')), "has no submodule 'neck'"),
    ]
    for model, match in cases:
        with pytest.raises(ValueError, match=match) as info:
            model.init_weights()
        assert 'init_cfg: StrictPretrained checkpoint=' in str(info.value)
    with pytest.raises(ValueError, match="must end with '.'"):
        tiny_classifier(strict(path, 'backbone')).init_weights()


def test_strict_pretrained_refuses_a_malicious_file(tmp_path):
    marker = tmp_path / 'payload_ran'
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={}, meta=SystemPayload(marker)), path)
    with pytest.raises(UnsafeCheckpointError, match='init_cfg.checkpoint'):
        tiny_classifier(strict(path)).init_weights()
    assert not marker.exists()
