import pytest
import torch


@pytest.fixture(autouse=True, scope='session')
def _single_thread():
    # Tests share two cores; intra-op threads only add contention here.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """Tests that set mmengine's default scope must not leak it."""
    from mmengine.registry import DefaultScope
    instances = dict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(instances)


@pytest.fixture
def mmpretrain_scope():
    """Build in the mmpretrain scope, as the Runner of an mmpretrain config
    does; the previous default scope comes back afterwards."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture
def logs():
    """Messages mmengine logs at WARNING or above while the test runs."""
    import logging

    from mmengine.logging import MMLogger

    class Catch(logging.Handler):

        def emit(self, record):
            seen.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    seen = []
    handler = Catch(logging.WARNING)
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)


# Configs and test data, not modules: --doctest-modules must not import them.

collect_ignore = ['configs', 'data']
