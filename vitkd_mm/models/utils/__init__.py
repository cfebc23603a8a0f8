from .state_dict_match import KeyReport, match_state_dict, read_state_dict
from .strict_pretrained import StrictPretrained
from .tokens import HWShape, check_mask_ratio, masked_token_count, to_hw

__all__ = [
    'check_mask_ratio', 'HWShape', 'KeyReport', 'match_state_dict',
    'masked_token_count', 'read_state_dict', 'StrictPretrained', 'to_hw'
]
