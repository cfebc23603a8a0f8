"""Command-line arguments the tools share, as OpenMMLab's tools have them."""
import argparse
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config, DictAction


def add_cfg_options(
        parser: argparse.ArgumentParser,
        help: str = 'override settings of the config, key=value') -> None:
    """Add ``--cfg-options key=value ...`` (mmengine's ``DictAction``).

    Args:
        parser (ArgumentParser): The tool's parser.
        help (str): The option's help text.

    Examples:
        >>> parser = argparse.ArgumentParser()
        >>> add_cfg_options(parser)
        >>> parser.parse_args(['--cfg-options', 'a.b=1']).cfg_options
        {'a.b': 1}
    """
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help=help)


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """The config at ``path`` with ``cfg_options`` merged into it.

    Args:
        path (str): The config file.
        cfg_options (dict, optional): ``--cfg-options``; None or empty
            merges nothing.

    Returns:
        Config: The config.

    Examples:
        >>> import os.path as osp, tempfile
        >>> path = osp.join(tempfile.mkdtemp(), 'config.py')
        >>> with open(path, 'w') as f:
        ...     _ = f.write('train_cfg = dict(max_epochs=300)')
        >>> load_config(path, {'train_cfg.max_epochs': 1}).train_cfg
        {'max_epochs': 1}
    """
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def parse_runner_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the command line of a Runner tool (``tools/train.py``,
    ``tools/test.py``).

    Adds ``--cfg-options`` and ``--launcher`` to ``parser``, parses
    ``sys.argv`` and sets ``LOCAL_RANK`` to 0 unless a launcher set it.

    Args:
        parser (ArgumentParser): The tool's own arguments; they must
            include ``config`` and ``--work-dir``.

    Returns:
        Namespace: The arguments, for :func:`merge_runner_args`.

    Examples:
        >>> parser = argparse.ArgumentParser(description='Test a checkpoint')
        >>> _ = parser.add_argument('config')
        >>> _ = parser.add_argument('--work-dir')
        >>> args = parse_runner_args(parser)  # doctest: +SKIP
    """
    add_cfg_options(parser)
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', '0')
    return args


def merge_runner_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Set ``cfg``'s launcher and work dir from ``args``, then merge
    ``--cfg-options`` (last, so they override everything).

    The work dir is ``--work-dir``, else the config's, else
    ``./work_dirs/<config name>``.

    Args:
        cfg (Config): The config, with the tool's own settings applied.
        args (Namespace): What :func:`parse_runner_args` returned.

    Returns:
        Config: ``cfg``, changed in place.

    Examples:
        >>> args = argparse.Namespace(
        ...     config='configs/deit-t_vitkd.py', work_dir=None,
        ...     launcher='none', cfg_options=None)
        >>> merge_runner_args(Config(), args).work_dir
        './work_dirs/deit-t_vitkd'
        >>> args.cfg_options = {'work_dir': 'out'}
        >>> merge_runner_args(Config(), args).work_dir
        'out'
    """
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg
