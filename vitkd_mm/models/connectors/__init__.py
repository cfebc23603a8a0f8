from .drop_extra_tokens import DropExtraTokens
from .generation_connector import GenerationConnector
from .mimic_connector import MimicConnector

__all__ = ['DropExtraTokens', 'MimicConnector', 'GenerationConnector']
