from .base_recorder import BaseRecorder
from .module_recorders import ModuleInputs, ModuleOutputs, ModuleRecorder
from .patch_recorders import FunctionOutputs, MethodOutputs
from .recorder_manager import RecorderManager

__all__ = [
    'BaseRecorder', 'ModuleRecorder', 'ModuleOutputs', 'ModuleInputs',
    'MethodOutputs', 'FunctionOutputs', 'RecorderManager'
]
