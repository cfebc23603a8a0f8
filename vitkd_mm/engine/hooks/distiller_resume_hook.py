from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from vitkd_mm.registry import HOOKS
from vitkd_mm.utils import strip_prefix

DISTILLER_PREFIX = 'distiller.'


def _distiller_shapes(state_dict) -> dict:
    """``{key: shape}`` of the distiller's entries (``module.`` stripped)."""
    return {
        key: tuple(getattr(value, 'shape', ()))
        for key, value in strip_prefix(state_dict, 'module.').items()
        if key.startswith(DISTILLER_PREFIX)
    }


def _modules(keys) -> str:
    """The modules owning ``keys``, e.g. ``distiller.connectors.mimic2``."""
    return ', '.join(sorted({key.rsplit('.', 1)[0] for key in keys}))


def distiller_changes(saved: dict, current: dict) -> str:
    """What differs between two distillers' ``{key: shape}``, in words;
    empty if nothing does."""
    added = [key for key in current if key not in saved]
    removed = [key for key in saved if key not in current]
    reshaped = [
        f'{key} {saved[key]} -> {current[key]}' for key in current
        if key in saved and saved[key] != current[key]
    ]
    changes = []
    if added:
        changes.append(f'added {_modules(added)}')
    if removed:
        changes.append(f'removed {_modules(removed)}')
    if reshaped:
        changes.append(f'reshaped {", ".join(reshaped)}')
    return '; '.join(changes)


@HOOKS.register_module()
class DistillerResumeCheckHook(Hook):
    """Refuse to resume a run whose distiller the config has changed.

    Resuming restores the optimizer, whose parameter groups must match the
    model's parameters one to one: after a change of the distiller (a
    shallow layer added, another generator) mmengine warns about missing
    keys and then fails with ``ValueError: loaded state dict contains a
    parameter group that doesn't match the size of optimizer's group``.
    This hook stops the resume before either, saying what changed and what
    to do. Settings that own no weight (``mask_ratio``,
    ``teacher_precision``, loss weights) resume as before, and so does
    ``load_from`` (a new run whose new distiller parts keep their init).

    Examples:
        >>> custom_hooks = [dict(type='vitkd_mm.DistillerResumeCheckHook')]
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Runner.resume and load_from both call this hook; only a resume
        # restores the optimizer.
        if not getattr(runner, '_resume', False):
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        saved = _distiller_shapes(checkpoint.get('state_dict', {}))
        changes = distiller_changes(saved,
                                    _distiller_shapes(model.state_dict()))
        if changes:
            raise ValueError(
                'resume: the config\'s distiller differs from the one the '
                f'checkpoint was trained with ({changes}), so its optimizer '
                'state cannot be restored. Resume with the original config, '
                'or start a new run from these weights with '
                'load_from=<checkpoint> and no --resume (the changed '
                'distiller parts start from their init).')
