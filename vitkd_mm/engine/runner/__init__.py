from .distill_val_loop import SingleTeacherDistillValLoop
from .teacher_evaluation import evaluate_teacher, knn_classify

__all__ = ['SingleTeacherDistillValLoop', 'evaluate_teacher', 'knn_classify']
