"""Connector of ViTKD's shallow mimicking."""
import torch
from mmengine.model import BaseModule
from torch import nn

from vitkd_mm.registry import MODELS
from .drop_extra_tokens import check_num_extra_tokens, drop_extra_tokens


def token_projection(student_dims: int, teacher_dims: int) -> nn.Module:
    """``Linear(student_dims, teacher_dims)``, or an identity if equal."""
    if student_dims == teacher_dims:
        return nn.Identity()
    return nn.Linear(student_dims, teacher_dims)


def check_token_dims(x: torch.Tensor, student_dims: int) -> None:
    """Raise a ValueError if the channel dim of ``x`` is not student_dims."""
    if x.shape[-1] != student_dims:
        raise ValueError(
            f'Expected student tokens with student_dims={student_dims} '
            f'channels, got a tensor of shape {tuple(x.shape)} '
            f'({x.shape[-1]} channels). Check student_dims in the connector '
            'config against the recorded student layer.')


@MODELS.register_module()
class MimicConnector(BaseModule):
    """Maps the student's shallow tokens to the teacher's width.

    Drops the extra tokens (as :class:`DropExtraTokens`), then applies
    ``Linear(student_dims, teacher_dims)`` (an identity without parameters
    when the widths are equal); shapes: see :meth:`forward`.

    Args:
        student_dims (int): Channels D_s of the student tokens.
        teacher_dims (int): Channels D_t of the teacher tokens.
        num_extra_tokens (int): Number of leading extra tokens of the student
            sequence. Defaults to 1.
        init_cfg (dict, optional): Initialization config. Defaults to None.

    Examples:
        >>> import torch
        >>> connector = MimicConnector(192, 384)
        >>> connector(torch.rand(2, 1 + 196, 192)).shape
        torch.Size([2, 196, 384])
        >>> MimicConnector(384, 384).proj  # equal widths
        Identity()
    """

    def __init__(self,
                 student_dims: int,
                 teacher_dims: int,
                 num_extra_tokens: int = 1,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.student_dims = student_dims
        self.teacher_dims = teacher_dims
        self.num_extra_tokens = check_num_extra_tokens(num_extra_tokens)
        self.proj = token_projection(student_dims, teacher_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project the patch tokens: (B, E + N, D_s) -> (B, N, D_t)."""
        x = drop_extra_tokens(x, self.num_extra_tokens)  # B, N, D_s
        check_token_dims(x, self.student_dims)
        return self.proj(x)  # B, N, D_t
