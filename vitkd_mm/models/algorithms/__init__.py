from .single_teacher_distill import SingleTeacherDistill

__all__ = ['SingleTeacherDistill']
