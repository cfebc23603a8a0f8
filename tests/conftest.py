import os.path as osp

import numpy as np
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


@pytest.fixture(autouse=True, scope='module')
def _restore_default_scope_of_module():
    """Nor must a module's fixtures (a Runner built once for the module's
    tests sets the scope of its config): the next module starts without
    it, whatever order the modules run in."""
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


# Fixtures of the tests of more than one module.


@pytest.fixture(params=['zip', 'legacy', 'raw'])
def evil(request, tmp_path):
    """A checkpoint holding an ``os.system`` payload, and its marker."""
    from tests.utils import SystemPayload, write_pickle
    marker = tmp_path / 'payload_ran'
    path = tmp_path / f'evil_{request.param}.pth'
    # a bare pickle of a tensor would name torch.storage._load_from_bytes
    weights = dict(w=torch.ones(1)) if request.param != 'raw' else {}
    write_pickle(path, dict(state_dict=weights, meta=SystemPayload(marker)),
                 request.param)
    yield str(path), marker
    assert not marker.exists(), 'the payload ran'


@pytest.fixture(params=['random', 'truncated', 'empty'])
def unreadable(request, tmp_path):
    path = tmp_path / f'{request.param}.pth'
    if request.param == 'random':
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif request.param == 'truncated':
        torch.save(dict(state_dict=dict(w=torch.ones(64))), path)
        path.write_bytes(path.read_bytes()[:300])
    else:
        path.write_bytes(b'')
    return str(path)


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """One epoch of the tiny config, exporting to a folder that does not
    exist yet."""
    from mmengine.runner import Runner

    from tests.utils import tiny_runner_cfg
    tmp_path = tmp_path_factory.mktemp('export')
    cfg = tiny_runner_cfg(tmp_path)
    cfg.train_cfg.max_epochs = 1
    cfg.custom_hooks[0].filename = 'export/student.pth'
    runner = Runner.from_cfg(cfg)
    runner.train()
    return dict(
        cfg=cfg,
        runner=runner,
        student=osp.join(cfg.work_dir, 'export', 'student.pth'),
        epoch=osp.join(cfg.work_dir, 'epoch_1.pth'))


@pytest.fixture
def fake_gz(tmp_path):
    """A tiny Fashion-MNIST in the upstream layout: 6 train, 4 test images."""
    from tests.fashion_mnist_utils import write_idx_gz
    src = tmp_path / 'src'
    src.mkdir()
    rng = np.random.default_rng(0)
    data = {}
    for split, n in (('train', 6), ('t10k', 4)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        write_idx_gz(src / f'{split}-images-idx3-ubyte.gz', images)
        write_idx_gz(src / f'{split}-labels-idx1-ubyte.gz', labels)
        data[split] = (images, labels)
    return str(src), data


@pytest.fixture
def split_root(tmp_path):
    """Prepared fake Fashion-MNIST: 30 training images, but labels for the
    first 20 only (the "labelled subset"), split with 2 per class."""
    from tests.fashion_mnist_utils import write_idx_gz
    from tools.dataset_converters import prepare_fashion_mnist as prep
    from tools.dataset_converters import \
        split_fashion_mnist_label_free as split
    src = tmp_path / 'src'
    src.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    labels = np.arange(20, dtype=np.uint8) % 4
    write_idx_gz(src / 'train-images-idx3-ubyte.gz', images)
    write_idx_gz(src / 'train-labels-idx1-ubyte.gz', labels)
    for name in ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'):
        write_idx_gz(src / f'{name}.gz',
                     (images if 'images' in name else labels)[:4])
    data_root = str(tmp_path / 'fashion_mnist')
    prep.prepare(str(src), data_root, {name: None for name in prep.SHAPES})
    out = osp.join(data_root, 'label_free')
    record = split.split(data_root, out, subset=20, per_class=2)
    return out, images, labels, record


# Configs and test data, not modules: --doctest-modules must not import them.

collect_ignore = ['configs', 'data']
