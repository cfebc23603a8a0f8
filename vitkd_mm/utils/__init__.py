from .build import build_component
from .checkpoint_loading import (enable_safe_checkpoint_loading,
                                 read_checkpoint, safe_torch_load)
from .device import device_name
from .safe_load import (UnreadableCheckpointError, UnsafeCheckpointError,
                        history_buffer_statistic, safe_checkpoint_globals)
from .student_export import student_checkpoint, student_state_dict
from .text import preview

__all__ = [
    'build_component', 'device_name', 'enable_safe_checkpoint_loading',
    'history_buffer_statistic', 'preview', 'read_checkpoint',
    'safe_checkpoint_globals', 'safe_torch_load', 'student_checkpoint',
    'student_state_dict', 'UnreadableCheckpointError', 'UnsafeCheckpointError'
]
