"""build_component: a component's unknown, missing or invalid constructor
arguments are errors naming its config key."""
import pytest

from tests.utils import tiny_distill_cfg
from vitkd_mm.registry import MODELS

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


@pytest.mark.parametrize('change, message', [
    (lambda d: d.distill_losses.loss_mimic.update(loss_weigth=1.0),
     r"distill_losses.loss_mimic: MimicLoss takes no argument\(s\) "
     r"\['loss_weigth'\]. Valid arguments: loss_weight, init_cfg"),
    (lambda d: d.student_recorders.block0.update(src='backbone.layers.0'),
     r"student_recorders.block0: ModuleOutputs takes no argument\(s\) "
     r"\['src'\]. Valid arguments: source"),
    (lambda d: d.teacher_recorders.block0.pop('source'),
     r"teacher_recorders.block0: ModuleOutputs is missing required "
     r"argument\(s\) \['source'\]"),
    (lambda d: d.connectors.proj.update(student_dim=16),
     r"connectors.proj: MimicConnector takes no argument\(s\) "
     r"\['student_dim'\]"),
])
def test_constructor_argument_errors_name_the_key(change, message):
    cfg = tiny_distill_cfg()
    change(cfg.distiller)
    with pytest.raises(TypeError, match=message):
        MODELS.build(cfg)


def test_constructor_value_errors_name_the_key():
    cfg = tiny_distill_cfg()
    cfg.distiller.connectors.proj.update(num_extra_tokens=-1)
    with pytest.raises(
            ValueError,
            match=r'connectors.proj: num_extra_tokens'
            r' must be a non-negative int, got -1'):
        MODELS.build(cfg)
