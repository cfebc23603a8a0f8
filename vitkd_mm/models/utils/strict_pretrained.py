"""``init_cfg`` that loads one part of a checkpoint into a model, strictly."""
from mmengine.logging import print_log
from torch import nn

from vitkd_mm.registry import WEIGHT_INITIALIZERS
from vitkd_mm.utils import strip_prefix
from .state_dict_match import match_state_dict, read_state_dict


@WEIGHT_INITIALIZERS.register_module()
class StrictPretrained:
    """Load the ``prefix`` part of a checkpoint into the submodule of that
    name, refusing any missing, unexpected or mis-shaped key.

    mmengine's ``Pretrained`` loads with ``strict=False`` and only logs what
    did not fit, so a fine-tune from a wrong file trains on from random
    weights. This initializer raises instead, naming ``init_cfg`` and the
    file. Set it as the model's (not the backbone's) ``init_cfg``: it loads
    the submodule and marks it initialised, so the submodule's own
    ``init_weights`` (mmpretrain's ViT re-draws ``pos_embed`` unless its
    own init_cfg is ``Pretrained``) does not overwrite what it loaded;
    the rest of the model (a fresh head) is initialised as usual.

    The file is read by vitkd_mm's safe loaders; ``state_dict``/``model``
    wrappers and ``module.`` prefixes are allowed, and the submodule's
    load-time hooks run (a position embedding of another grid is resized).

    Args:
        checkpoint (str): Path or URL, e.g. the ``student.pth`` that
            :class:`~vitkd_mm.engine.StudentExportHook` wrote.
        prefix (str): Keys of the file to load, and the submodule they
            load into (``'backbone.'``: ``backbone.*`` into
            ``model.backbone``). Other keys of the file are left out.
            Defaults to ``'backbone.'``.

    Examples:
        >>> model = dict(  # doctest: +SKIP
        ...     type='ImageClassifier',
        ...     init_cfg=dict(type='vitkd_mm.StrictPretrained',
        ...                   checkpoint='work_dirs/pretrain/student.pth',
        ...                   prefix='backbone.'))
    """

    def __init__(self, checkpoint: str, prefix: str = 'backbone.') -> None:
        if not prefix.endswith('.'):
            raise ValueError(f"init_cfg: StrictPretrained prefix={prefix!r} "
                             "must end with '.' (e.g. 'backbone.').")
        self.checkpoint = checkpoint
        self.prefix = prefix
        #: Set by mmengine's ``initialize``; unused.
        self.wholemodule = False

    def __call__(self, module: nn.Module) -> None:
        where = (f'init_cfg: StrictPretrained checkpoint={self.checkpoint!r}'
                 f', prefix={self.prefix!r}')
        name = self.prefix[:-1]
        try:
            target = module.get_submodule(name)
        except AttributeError:
            raise ValueError(f'{where}: the {type(module).__name__} has no '
                             f'submodule {name!r}.') from None
        state = read_state_dict(self.checkpoint, 'init_cfg.checkpoint')
        part = strip_prefix(state, self.prefix, keep_others=False)
        if not part:
            raise ValueError(f'{where}: no key of the file starts with '
                             f'{self.prefix!r} (its keys start with '
                             f'{sorted({k.split(".")[0] for k in state})}).')
        report, loadable = match_state_dict(target, part, ())
        if report.problems:
            raise ValueError(f'{where} does not fit {name}: '
                             f'{report.problems}.')
        # Every key was checked above; what is left out are grid-derived
        # buffers (EVA-02's rotary tables), kept at the model's values.
        target.load_state_dict(loadable, strict=False)
        target._is_init = True  # its own init_weights must not redraw it
        print_log(
            f'StrictPretrained: loaded {len(loadable)} keys of '
            f'{self.checkpoint} into {name}; the rest of the '
            f'{type(module).__name__} is initialised by its init_cfg.',
            'current')
