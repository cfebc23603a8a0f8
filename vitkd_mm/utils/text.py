"""Text for messages."""
from typing import Sequence


def preview(items: Sequence[str], limit: int = 10) -> str:
    """The first ``limit`` items, comma-separated, and how many more.

    Examples:
        >>> preview(['a', 'b', 'c'], limit=2)
        'a, b, ... (1 more)'
        >>> preview([])
        'none'
    """
    shown = ', '.join(items[:limit]) or 'none'
    more = len(items) - limit
    return shown + (f', ... ({more} more)' if more > 0 else '')
