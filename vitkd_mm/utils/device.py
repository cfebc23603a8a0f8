"""The machine a figure was measured on, in words."""
import platform

import torch


def device_name(device: str = 'cpu') -> str:
    """The GPU's name, or the CPU model from ``/proc/cpuinfo``.

    Examples:
        >>> isinstance(device_name('cpu'), str)
        True
    """
    if str(device).startswith('cuda'):
        return torch.cuda.get_device_name(torch.device(device))
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'cpu'
