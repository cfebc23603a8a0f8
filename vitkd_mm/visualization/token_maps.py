"""Token maps: the tokens a distiller's token losses compare, on each
side's own grid, and a 3-component PCA of them to RGB."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch


@dataclass
class TokenPair:
    """The tokens one token loss (``preds_S``/``preds_T``) compares.

    Attributes:
        name (str): The loss name, e.g. ``'loss_mimic_0'``.
        teacher (Tensor): The teacher's patch tokens on its own grid
            (B, h_t * w_t, D_t).
        teacher_hw (tuple[int, int]): The teacher's grid.
        student (Tensor): The student's tokens after the connector, on the
            student's grid (B, h_s * w_s, D_t): projected (mimic) or
            generated (generation).
        student_hw (tuple[int, int]): The student's grid.
        mask (Tensor, optional): The generation's mask (B, h_s * w_s), 1 at
            the masked tokens.
        student_raw (Tensor): The student's patch tokens before the
            connector (B, h_s * w_s, D_s).
        teacher_aligned (Tensor): The teacher's tokens as the loss gets them,
            on the student's grid (B, h_s * w_s, D_t).
    """
    name: str
    teacher: torch.Tensor
    teacher_hw: Tuple[int, int]
    student: torch.Tensor
    student_hw: Tuple[int, int]
    mask: Optional[torch.Tensor]
    student_raw: torch.Tensor
    teacher_aligned: torch.Tensor


def _grid(distiller, spec, model, num_tokens: int) -> Tuple[int, int]:
    """The (h, w) grid of a mapping entry's tokens: its recorded
    ``hw_shape`` connector argument, else the backbone's
    ``patch_resolution``."""
    kwargs = dict(spec.connector_kwargs)
    if 'hw_shape' in kwargs:
        hw = tuple(distiller.read_record(kwargs['hw_shape']))
    else:
        backbone = getattr(model, 'backbone', model)
        hw = tuple(getattr(backbone, 'patch_resolution', ()) or ())
    if len(hw) != 2 or hw[0] * hw[1] != num_tokens:
        raise ValueError(
            f'{spec.key}: cannot lay {num_tokens} tokens out on a grid: no '
            'recorded hw_shape connector argument and no matching backbone '
            f'patch_resolution ({hw}).')
    return int(hw[0]), int(hw[1])


def _teacher_tokens(distiller, spec) -> torch.Tensor:
    """The teacher entry's tokens through its connector, but on the
    teacher's own grid (no ``target_hw``)."""
    value = distiller.read_record(spec)
    if spec.connector is None:
        return value
    kwargs = {
        name: distiller.read_record(sub_spec)
        for name, sub_spec in spec.connector_kwargs if name != 'target_hw'
    }
    return distiller.connectors[spec.connector](value, **kwargs)


def capture_token_pairs(model,
                        inputs: torch.Tensor,
                        seed: int = 0) -> List[TokenPair]:
    """Run teacher and student on ``inputs`` inside the distiller's own
    recorders and return what each token loss compares.

    Uses the distiller's recorders, connectors and mapping (no capture of
    its own): the token losses are the ones with ``preds_S`` and
    ``preds_T`` arguments. No gradient; the global RNG state is left as it
    was, and the generation's mask is drawn from ``seed``, so the same
    images give the same mask every time.

    Args:
        model (SingleTeacherDistill): The distillation model.
        inputs (Tensor): A preprocessed batch (B, C, H, W).
        seed (int): Seed of the connectors' random draws.

    Returns:
        list[TokenPair]: One per token loss, in mapping order.
    """
    distiller = model.distiller
    names = [
        name for name, specs in distiller.loss_specs.items()
        if {'preds_S', 'preds_T'} <= set(specs)
    ]
    devices = [inputs.device] if inputs.device.type == 'cuda' else []
    pairs = []
    with torch.no_grad(), torch.random.fork_rng(devices):
        torch.manual_seed(seed)
        with distiller.record_teacher(stop_early=False):
            model.teacher(model.teacher_input(inputs), mode='tensor')
        with distiller.student_recorders:
            model.architecture(inputs, mode='tensor')
        loss_inputs = distiller.loss_inputs(names)
        for name in names:
            specs, kwargs = distiller.loss_specs[name], loss_inputs[name]
            student = kwargs['preds_S'].float()  # B, N_s, D_t
            teacher = _teacher_tokens(distiller, specs['preds_T']).float()
            num_student = student.shape[1]
            raw = distiller.read_record(specs['preds_S'])
            pairs.append(
                TokenPair(
                    name=name,
                    teacher=teacher,
                    teacher_hw=_grid(distiller, specs['preds_T'],
                                     model.teacher, teacher.shape[1]),
                    student=student,
                    student_hw=_grid(distiller, specs['preds_S'],
                                     model.architecture, num_student),
                    mask=kwargs.get('mask'),
                    # extra tokens lead the sequence
                    student_raw=raw[:, raw.shape[1] - num_student:].float(),
                    teacher_aligned=kwargs['preds_T'].float()))
    return pairs


class TokenPCA:
    """A 3-component PCA of tokens to RGB, fitted once and then reused.

    ``fit`` takes the principal axes of the given tokens (e.g. the
    teacher's, of a few fixed images), each axis' sign fixed so its
    largest loading is positive, and the 1st / 99th percentile of each
    component as its colour range. ``to_rgb`` projects any tokens of the
    same width on that basis, so the same token gets the same colour in
    every panel and at every epoch.

    Examples:
        >>> pca = TokenPCA().fit(torch.randn(100, 8))
        >>> pca.to_rgb(torch.randn(12, 8), (3, 4)).shape
        (3, 4, 3)
    """

    def __init__(self) -> None:
        self.mean: Optional[torch.Tensor] = None
        self.components: Optional[torch.Tensor] = None  # D, 3
        self.low: Optional[torch.Tensor] = None
        self.high: Optional[torch.Tensor] = None

    @property
    def fitted(self) -> bool:
        return self.components is not None

    def fit(self, tokens: torch.Tensor) -> 'TokenPCA':
        """Fit the basis on tokens (..., D); refuses a second fit."""
        if self.fitted:
            raise RuntimeError('TokenPCA is fitted once, so colours stay '
                               'comparable; build a new one to refit.')
        x = tokens.detach().reshape(-1, tokens.shape[-1]).double().cpu()
        self.mean = x.mean(dim=0)  # D
        _, _, v = torch.linalg.svd(x - self.mean, full_matrices=False)
        components = v[:3].T  # D, 3 (fewer if D < 3)
        top = components.abs().argmax(dim=0, keepdim=True)  # 1, k
        self.components = components * components.gather(0, top).sign()
        projected = (x - self.mean) @ self.components  # M, 3
        self.low = torch.quantile(projected, 0.01, dim=0)
        self.high = torch.quantile(projected, 0.99, dim=0)
        return self

    def to_rgb(self, tokens: torch.Tensor, hw: Tuple[int, int]) -> np.ndarray:
        """Tokens (h * w, D) -> an RGB map (h, w, 3) of floats in [0, 1]."""
        if not self.fitted:
            raise RuntimeError('TokenPCA.to_rgb before fit.')
        x = tokens.detach().reshape(-1, tokens.shape[-1]).double().cpu()
        projected = (x - self.mean) @ self.components  # N, k
        scaled = (projected - self.low) / (self.high -
                                           self.low).clamp(min=1e-12)
        rgb = torch.zeros(x.shape[0], 3, dtype=torch.float64)
        rgb[:, :scaled.shape[1]] = scaled.clamp(0, 1)
        return rgb.reshape(hw[0], hw[1], 3).numpy()  # h, w, 3


def fit_pcas(pairs: List[TokenPair]) -> Dict[str, TokenPCA]:
    """One basis per token loss, fitted on the teacher's tokens of it."""
    return {pair.name: TokenPCA().fit(pair.teacher) for pair in pairs}
