from .generation_loss import GenerationLoss
from .mimic_loss import MimicLoss
from .nkd_loss import NKDLoss

__all__ = ['MimicLoss', 'GenerationLoss', 'NKDLoss']
