"""tools/fashion_mnist/arms.py: the kit's arms, teachers, pretrainings and
modes, and the configs they name."""
import os.path as osp

from tests.fashion_mnist_utils import ALL_CONFIGS
from tools.fashion_mnist import arms


def test_every_arm_has_a_config():
    names = {osp.basename(c) for c in ALL_CONFIGS}
    assert {
        arm.config
        for arm in arms.ARMS.values()
    } | {
        run.config
        for run in [*arms.TEACHERS.values(), *arms.PRETRAININGS.values()]
    } == names
    # every arm reads a known teacher and pretraining, every mode plans
    # known arms
    assert {arm.teacher
            for arm in arms.ARMS.values()} <= {None, *arms.TEACHERS}
    assert {arm.pretraining
            for arm in arms.ARMS.values()} <= {None, *arms.PRETRAININGS}
    assert all(
        set(mode.plan) <= set(arms.ARMS) for mode in arms.MODES.values())
