from .student_export_hook import StudentExportHook

__all__ = ['StudentExportHook']
