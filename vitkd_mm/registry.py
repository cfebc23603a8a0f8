"""Registries of ``vitkd_mm``.

Each node is a child of the matching root registry in MMEngine, with scope
``vitkd_mm``. ``locations`` make ``vitkd_mm.X`` resolvable from any other
scope (mmpretrain, mmdet) without an explicit import.
"""
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

__all__ = [
    'MODELS', 'HOOKS', 'LOOPS', 'PARAM_SCHEDULERS', 'RECORDERS',
    'WEIGHT_INITIALIZERS'
]

#: Algorithms, distillers, connectors, losses and necks.
MODELS = Registry(
    'model', parent=MMENGINE_MODELS, locations=['vitkd_mm.models'])
#: Engine hooks (student export).
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, locations=['vitkd_mm.engine'])
#: Loops (validation with the teacher's metrics).
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['vitkd_mm.engine'])
#: Parameter schedulers (a cosine that follows a warm-up).
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMENGINE_PARAM_SCHEDULERS,
    locations=['vitkd_mm.engine'])
#: Recorders: how a value is captured (forward hooks, method patches).
RECORDERS = Registry('recorder', locations=['vitkd_mm.models.recorders'])
#: Weight initializers (``init_cfg``): a strict partial ``Pretrained``.
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=MMENGINE_WEIGHT_INITIALIZERS,
    locations=['vitkd_mm.models'])
