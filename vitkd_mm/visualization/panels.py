"""Figures of token maps and CKA values, as RGB arrays (matplotlib Agg)."""
from typing import Dict, List, Tuple

import numpy as np
import torch

from .token_maps import TokenPair, TokenPCA


def _figure_to_array(fig) -> np.ndarray:
    """Render a matplotlib figure to an (H, W, 3) uint8 array and close it."""
    import matplotlib.pyplot as plt
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def display_image(image: torch.Tensor, bgr: bool) -> np.ndarray:
    """A packed input image (C, H, W) uint8 as (H, W, 3) RGB for display.

    Args:
        image (Tensor): One or three channels, as ``PackInputs`` packs it.
        bgr (bool): Whether three channels are in BGR order (the data
            preprocessor converts them, ``to_rgb=True``).
    """
    array = image.detach().cpu().numpy().transpose(1, 2, 0)  # H, W, C
    if array.shape[2] == 1:
        return np.repeat(array, 3, axis=2)
    return array[..., ::-1] if bgr else array


def token_panels(pairs: List[TokenPair], pcas: Dict[str, TokenPCA],
                 index: int) -> List[Tuple[str, np.ndarray, np.ndarray]]:
    """``(title, RGB map, mask or None)`` per panel of image ``index``:
    the teacher's tokens, then the student's, per token loss."""
    panels = []
    for pair in pairs:
        pca, stem = pcas[pair.name], pair.name.replace('loss_', '')
        hw_t, hw_s = pair.teacher_hw, pair.student_hw
        student = 'generated' if pair.mask is not None else 'projected'
        mask = None if pair.mask is None else pair.mask[index].reshape(
            hw_s).cpu().numpy()
        panels += [
            (f'{stem}: teacher {hw_t[0]}x{hw_t[1]}',
             pca.to_rgb(pair.teacher[index], hw_t), None),
            (f'{stem}: student {student} {hw_s[0]}x{hw_s[1]}' +
             (', x: masked' if mask is not None else ''),
             pca.to_rgb(pair.student[index], hw_s), mask),
        ]
    return panels


def draw_token_panels(image: np.ndarray,
                      panels: List[Tuple[str, np.ndarray, np.ndarray]],
                      title: str = '') -> np.ndarray:
    """One row: the input image, then each token map on its own grid
    (nearest-neighbour cells, so a 16 x 16 and a 14 x 14 grid show their
    cells), masked tokens crossed.

    Returns:
        ndarray: The figure as an (H, W, 3) uint8 RGB image.
    """
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(
        1, 1 + len(panels), figsize=(2.2 * (1 + len(panels)), 2.6))
    axes = np.atleast_1d(axes)
    axes[0].imshow(image, interpolation='nearest')
    axes[0].set_title('input', fontsize=8)
    for ax, (name, rgb, mask) in zip(axes[1:], panels):
        ax.imshow(rgb, interpolation='nearest')
        if mask is not None:
            rows, cols = np.nonzero(mask)
            ax.scatter(cols, rows, marker='x', c='white', s=8, linewidths=0.6)
        ax.set_title(name, fontsize=7)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.9 if title else 1))
    return _figure_to_array(fig)


def draw_cka_bars(values: Dict[str, float], title: str = '') -> np.ndarray:
    """A bar chart of linear CKA per layer, as an (H, W, 3) uint8 image."""
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(values), 3))
    bars = ax.bar(list(values), list(values.values()), color='tab:blue')
    ax.bar_label(bars, fmt='%.3f', fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel('linear CKA (student, teacher)')
    ax.set_title(title, fontsize=8)
    ax.tick_params(axis='x', labelsize=8)
    fig.tight_layout()
    return _figure_to_array(fig)
