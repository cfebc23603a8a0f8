from .drop_extra_tokens import DropExtraTokens
from .generation_connector import GenerationConnector
from .mimic_connector import MimicConnector
from .token_grid import TokenGridAlign

__all__ = [
    'DropExtraTokens', 'MimicConnector', 'GenerationConnector',
    'TokenGridAlign'
]
