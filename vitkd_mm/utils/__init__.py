from .build import build_component
from .safe_load import (enable_safe_checkpoint_loading,
                        history_buffer_statistic, safe_checkpoint_globals)
from .student_export import student_checkpoint, student_state_dict

__all__ = [
    'build_component', 'enable_safe_checkpoint_loading',
    'history_buffer_statistic', 'safe_checkpoint_globals',
    'student_checkpoint', 'student_state_dict'
]
