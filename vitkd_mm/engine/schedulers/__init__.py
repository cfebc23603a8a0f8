from .cosine_after_warmup import CosineAfterWarmupLR

__all__ = ['CosineAfterWarmupLR']
