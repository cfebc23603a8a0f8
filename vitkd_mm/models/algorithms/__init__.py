from .single_teacher_distill import SingleTeacherDistill, TeacherEarlyExit

__all__ = ['SingleTeacherDistill', 'TeacherEarlyExit']
