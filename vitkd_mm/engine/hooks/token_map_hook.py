from typing import Optional, Sequence

from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from vitkd_mm.registry import HOOKS
from vitkd_mm.visualization import (capture_token_pairs, display_image,
                                    draw_token_panels, fit_pcas, token_panels)


@HOOKS.register_module()
class TokenMapHook(Hook):
    """Draw token maps of a few fixed validation images at each validation.

    Per image, one PNG: the input, then for each token loss of the
    distiller (the mimicked layers, the deep generation) the teacher's
    tokens on its own grid next to the student's after the connector
    (projected, or generated with the mask it drew crossed out), each as a
    3-component PCA to RGB. One basis per token loss, fitted on the
    teacher's tokens of these images at the first validation and reused
    for every panel and every later validation, so colours compare across
    panels and epochs. The images go through the runner's visualizer
    (``add_image``, step = epoch): PNGs in ``vis_data/vis_image/``
    (``token_maps_<index>_<epoch>.png``), TensorBoard/W&B when configured.

    It runs before an ``EMAHook`` swaps the weights back, so it draws the
    weights that were validated. The capture reuses the distiller's
    recorders and connectors
    (:func:`capture_token_pairs`); no gradient, the global RNG untouched.

    Args:
        enable (bool): Draw at all. Defaults to True.
        indices (Sequence[int]): Validation images to draw (those beyond
            the validation set are left out, with a warning). Defaults to
            (0, 1, 2, 3).
        seed (int): Seed of the generation's mask (the same mask at every
            validation). Defaults to 0.

    Examples:
        >>> default_hooks = dict(
        ...     token_maps=dict(type='vitkd_mm.TokenMapHook', enable=True))
        >>> # off: --cfg-options default_hooks.token_maps.enable=False
    """

    # before EMAHook (NORMAL) swaps the averaged weights back out
    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 enable: bool = True,
                 indices: Sequence[int] = (0, 1, 2, 3),
                 seed: int = 0) -> None:
        self.enable = enable
        self.indices = list(indices)
        self.seed = seed
        self.pcas: Optional[dict] = None

    def after_val_epoch(self, runner, metrics=None) -> None:
        if not self.enable or runner.rank != 0:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not hasattr(model, 'distiller'):
            print_log('TokenMapHook: the model has no distiller; no maps.',
                      'current', 30)
            self.enable = False
            return
        dataset = runner.val_dataloader.dataset
        indices = [i for i in self.indices if i < len(dataset)]
        if indices != self.indices:
            print_log(
                f'TokenMapHook: the validation set has {len(dataset)} '
                f'images; drawing indices {indices} of {self.indices}.',
                'current', 30)
            self.indices = indices
        if not indices:
            return
        batch = pseudo_collate([dataset[i] for i in indices])
        data = model.data_preprocessor(batch, False)
        pairs = capture_token_pairs(model, data['inputs'], self.seed)
        if not pairs:
            print_log(
                'TokenMapHook: the distiller has no token loss '
                '(preds_S/preds_T); no maps.', 'current', 30)
            self.enable = False
            return
        if self.pcas is None:
            self.pcas = fit_pcas(pairs)
        bgr = bool(
            getattr(model.data_preprocessor, '_channel_conversion', False))
        for b, index in enumerate(self.indices):
            figure = draw_token_panels(
                display_image(batch['inputs'][b], bgr),
                token_panels(pairs, self.pcas, b),
                f'validation image {index}, epoch {runner.epoch}')
            runner.visualizer.add_image(
                f'token_maps_{index}', figure, step=runner.epoch)
