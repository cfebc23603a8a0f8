from mmengine.optim import CosineAnnealingLR
from mmengine.optim.scheduler.param_scheduler import INF

from vitkd_mm.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class CosineAfterWarmupLR(CosineAnnealingLR):
    """mmengine's ``CosineAnnealingLR``, for the phase after a warm-up, that
    also builds for a run no longer than the warm-up.

    A cosine from ``begin`` (the warm-up's end) to the end of the run
    (``end`` defaults to ``max_epochs``) is empty in a run of at most
    ``begin`` epochs (``--cfg-options train_cfg.max_epochs=1`` for a smoke
    run), which mmengine refuses (``end should be larger than begin``).
    This scheduler then spans one step past the run, where it never acts:
    the run is the warm-up alone. Otherwise it is ``CosineAnnealingLR``.

    Examples:
        >>> param_scheduler = [
        ...     dict(type='LinearLR', start_factor=1e-3, end=1),
        ...     dict(type='vitkd_mm.CosineAfterWarmupLR', eta_min=1e-5,
        ...          begin=1)]
    """

    def __init__(self,
                 optimizer,
                 *args,
                 begin: int = 0,
                 end: int = INF,
                 **kwargs):
        super().__init__(
            optimizer, *args, begin=begin, end=max(end, begin + 1), **kwargs)
