from .state_dict_match import KeyReport, match_state_dict, read_state_dict
from .strict_pretrained import StrictPretrained
from .tokens import HWShape, masked_token_count, to_hw

__all__ = [
    'HWShape', 'KeyReport', 'match_state_dict', 'masked_token_count',
    'read_state_dict', 'StrictPretrained', 'to_hw'
]
