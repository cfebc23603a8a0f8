"""The machine a figure was measured on, in words, and its bf16 flags."""
import platform
from typing import Tuple

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


#: CPU flags (``/proc/cpuinfo``) of native bf16 arithmetic.
CPU_BF16_FLAGS = ('amx_bf16', 'avx512_bf16')


def cpu_bf16_flags(cpuinfo: str = '/proc/cpuinfo') -> Tuple[str, ...]:
    """The native-bf16 flags this CPU reports (empty: bf16 is emulated).

    Args:
        cpuinfo (str): Path of the cpuinfo file. Defaults to
            ``/proc/cpuinfo``; a missing file reports no flags.

    Returns:
        tuple[str]: The flags of :data:`CPU_BF16_FLAGS` present.
    """
    try:
        with open(cpuinfo) as file:
            flags = next((line.split(':', 1)[1].split()
                          for line in file if line.startswith('flags')), [])
    except OSError:
        return ()
    return tuple(flag for flag in CPU_BF16_FLAGS if flag in flags)
