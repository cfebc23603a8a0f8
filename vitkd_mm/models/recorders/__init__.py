from .base_recorder import BaseRecorder
from .module_recorders import ModuleInputs, ModuleOutputs
from .patch_recorders import FunctionOutputs, MethodOutputs
from .recorder_manager import RecorderManager, RecordsComplete, cast_floats

__all__ = [
    'BaseRecorder', 'ModuleOutputs', 'ModuleInputs', 'MethodOutputs',
    'FunctionOutputs', 'RecorderManager', 'RecordsComplete', 'cast_floats'
]
