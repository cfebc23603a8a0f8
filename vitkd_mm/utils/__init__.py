from .build import build_component
from .checkpoint_allowlist import (UnreadableCheckpointError,
                                   UnsafeCheckpointError,
                                   history_buffer_statistic,
                                   safe_checkpoint_globals)
from .checkpoint_loading import (enable_safe_checkpoint_loading,
                                 read_checkpoint, safe_torch_load)
from .cli import (add_cfg_options, load_config, merge_runner_args,
                  parse_runner_args)
from .device import CPU_BF16_FLAGS, cpu_bf16_flags, device_name
from .processes import fresh_process_pool
from .student_export import (strip_prefix, student_checkpoint,
                             student_state_dict)
from .text import preview

__all__ = [
    'add_cfg_options', 'build_component', 'CPU_BF16_FLAGS', 'cpu_bf16_flags',
    'device_name', 'enable_safe_checkpoint_loading', 'fresh_process_pool',
    'history_buffer_statistic', 'load_config', 'merge_runner_args',
    'parse_runner_args', 'preview', 'read_checkpoint',
    'safe_checkpoint_globals', 'safe_torch_load', 'strip_prefix',
    'student_checkpoint', 'student_state_dict', 'UnreadableCheckpointError',
    'UnsafeCheckpointError'
]
