from .distiller_resume_hook import DistillerResumeCheckHook
from .student_export_hook import StudentExportHook
from .token_map_hook import TokenMapHook

__all__ = ['DistillerResumeCheckHook', 'StudentExportHook', 'TokenMapHook']
