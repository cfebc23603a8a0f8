from .state_dict_match import KeyReport, match_state_dict, read_state_dict
from .strict_pretrained import StrictPretrained

__all__ = [
    'KeyReport', 'match_state_dict', 'read_state_dict', 'StrictPretrained'
]
