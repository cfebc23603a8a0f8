from .builder import build_distiller
from .configurable_distiller import ConfigurableDistiller
from .vitkd_distiller import ViTKDDistiller

__all__ = ['ConfigurableDistiller', 'ViTKDDistiller', 'build_distiller']
