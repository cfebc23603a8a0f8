from .cka import linear_cka
from .panels import (display_image, draw_cka_bars, draw_token_panels,
                     token_panels)
from .token_maps import TokenPair, TokenPCA, capture_token_pairs, fit_pcas

__all__ = [
    'linear_cka', 'display_image', 'draw_cka_bars', 'draw_token_panels',
    'token_panels', 'TokenPair', 'TokenPCA', 'capture_token_pairs', 'fit_pcas'
]
