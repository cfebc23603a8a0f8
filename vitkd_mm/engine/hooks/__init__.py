from .distiller_resume_hook import DistillerResumeCheckHook
from .student_export_hook import StudentExportHook

__all__ = ['DistillerResumeCheckHook', 'StudentExportHook']
