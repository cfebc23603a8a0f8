from .build import build_component
from .checkpoint_loading import (enable_safe_checkpoint_loading,
                                 read_checkpoint, safe_torch_load)
from .device import CPU_BF16_FLAGS, cpu_bf16_flags, device_name
from .safe_load import (UnreadableCheckpointError, UnsafeCheckpointError,
                        history_buffer_statistic, safe_checkpoint_globals)
from .student_export import (strip_prefix, student_checkpoint,
                             student_state_dict)
from .text import preview

__all__ = [
    'build_component', 'CPU_BF16_FLAGS', 'cpu_bf16_flags', 'device_name',
    'enable_safe_checkpoint_loading', 'history_buffer_statistic', 'preview',
    'read_checkpoint', 'safe_checkpoint_globals', 'safe_torch_load',
    'strip_prefix', 'student_checkpoint', 'student_state_dict',
    'UnreadableCheckpointError', 'UnsafeCheckpointError'
]
