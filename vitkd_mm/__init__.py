"""ViTKD and NKD knowledge distillation for mmpretrain and mmdet."""
from .utils import enable_safe_checkpoint_loading
from .version import __version__

enable_safe_checkpoint_loading()

from . import engine, models  # noqa: E402,F401

__all__ = ['__version__']
