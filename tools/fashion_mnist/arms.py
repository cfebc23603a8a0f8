"""What the Fashion-MNIST kit trains: teachers, arms, modes, claims.

To add an arm, add an :class:`Arm` to :data:`ARMS` (its config, what it
distils, optional ``--cfg-options`` and the teacher it reads) and name it in
the plan of a mode in :data:`MODES` (or a new mode). To add a teacher, add a
:class:`Teacher` to :data:`TEACHERS`.
"""
import os.path as osp
from typing import Dict, List, NamedTuple, Optional, Tuple

CONFIG_DIR = osp.join('configs', 'vitkd', 'fashion-mnist')


class Teacher(NamedTuple):
    """A teacher: its config and the checkpoint shipped with the project.

    The kit uses the shipped checkpoint when it exists, else trains the
    config once in ``WORK_DIR/<name>_<epochs>e`` and reuses it.
    """
    config: str
    shipped: str


class Arm(NamedTuple):
    """One arm: a config, trained for every seed of a mode.

    Args:
        config (str): Config file name in :data:`CONFIG_DIR`.
        description (str): What is distilled, for the table.
        cfg_options (tuple[str]): Further ``key=value`` overrides;
            ``{pretrained}`` in them is replaced by the path of the
            ``pretraining``'s export of the same seed.
        teacher (str, optional): Key in :data:`TEACHERS`, passed as
            ``model.teacher_ckpt``; None for a model without a teacher.
        pretraining (str, optional): Key in :data:`PRETRAININGS`: trained
            first (per seed), its export initialises this arm.
    """
    config: str
    description: str
    cfg_options: Tuple[str, ...] = ()
    teacher: Optional[str] = 'teacher'
    pretraining: Optional[str] = None


class Pretraining(NamedTuple):
    """A label-free pretraining stage: no accuracy of its own; it ends with
    the ``student.pth`` that :class:`Arm` s with ``pretraining`` load.

    Args:
        config (str): Config file name in :data:`CONFIG_DIR`.
        description (str): What it trains on, for the report.
        epochs (int): Its epochs (the mode's are the arms').
        teacher (str): Key in :data:`TEACHERS`.
    """
    config: str
    description: str
    epochs: int
    teacher: str = 'teacher'


class Mode(NamedTuple):
    """Epochs of every run and ``{arm: seeds}``, in table order; ``data``:
    what the arms train on, for the report; ``label_free``: write the
    label-free split of the data first (1k labelled, 50k unlabelled)."""
    epochs: int
    plan: Dict[str, List[int]]
    data: str = 'the first 10k training images'
    label_free: bool = False


#: name -> teacher.
TEACHERS = {
    'teacher':
    Teacher(
        config='vit-d96_teacher_fashion-mnist.py',
        shipped=osp.join('checkpoints', 'fashion_mnist',
                         'vit-d96_teacher_fashion-mnist.pth')),
    'teacher-p7':
    Teacher(
        config='vit-d96-p7_teacher_fashion-mnist.py',
        shipped=osp.join('checkpoints', 'fashion_mnist',
                         'vit-d96-p7_teacher_fashion-mnist.pth')),
}

#: name -> arm. Order = order in tables and plots.
ARMS = {
    'student':
    Arm('vit-d48_fashion-mnist.py', 'none (student alone)', teacher=None),
    'nkd':
    Arm('vit-d48_nkd_fashion-mnist.py', 'NKD on logits'),
    'vitkd':
    Arm('vit-d48_vitkd_fashion-mnist.py',
        'mimic blocks 0, 1 + generate deep (conv)'),
    'vitkd-nkd':
    Arm('vit-d48_vitkd-nkd_fashion-mnist.py', 'ViTKD + NKD'),
    'vitkd-nkd_bf16-teacher':
    Arm('vit-d48_vitkd-nkd_fashion-mnist.py', 'ViTKD + NKD, bf16 teacher',
        ('model.teacher_precision=bf16', )),
    'vitkd-deep-mimic':
    Arm('vit-d48_vitkd-deep-mimic_fashion-mnist.py',
        'mimic blocks 0, 1 + mimic deep'),
    'vitkd-shallow-only':
    Arm('vit-d48_vitkd-shallow-only_fashion-mnist.py',
        'mimic blocks 0, 1 only'),
    'vitkd-deep-only':
    Arm('vit-d48_vitkd-deep-only_fashion-mnist.py',
        'generate deep (conv) only'),
    'vitkd-gen-self-attn':
    Arm('vit-d48_vitkd-gen-self-attn_fashion-mnist.py',
        'ViTKD, self-attention generator'),
    'vitkd-gen-cross-attn':
    Arm('vit-d48_vitkd-gen-cross-attn_fashion-mnist.py',
        'ViTKD, cross-attention generator'),
    'vitkd_teacher-p7':
    Arm('vit-d48_vitkd_teacher-p7_fashion-mnist.py',
        'ViTKD, 4 x 4-grid teacher, its tokens resized to 7 x 7',
        teacher='teacher-p7'),
    'student_1k':
    Arm('vit-d48_1k_fashion-mnist.py', 'none (student alone)', teacher=None),
    'vitkd-nkd_1k':
    Arm('vit-d48_vitkd-nkd_1k_fashion-mnist.py', 'ViTKD + NKD'),
    'label-free-vitkd_1k':
    Arm('vit-d48_finetune-1k_fashion-mnist.py',
        'label-free ViTKD on the 50k, then alone',
        ('model.init_cfg.checkpoint={pretrained}', ),
        teacher=None,
        pretraining='label-free-vitkd'),
    'label-free-vitkd_vitkd-nkd_1k':
    Arm('vit-d48_vitkd-nkd_finetune-1k_fashion-mnist.py',
        'label-free ViTKD on the 50k, then ViTKD + NKD',
        ('model.architecture.init_cfg.checkpoint={pretrained}', ),
        pretraining='label-free-vitkd'),
    'vitkd_teacher-p7-resize49':
    Arm('vit-d48_vitkd_teacher-p7-resize49_fashion-mnist.py',
        'ViTKD, 4 x 4-grid teacher fed 49 px inputs (7 x 7 grid)',
        teacher='teacher-p7'),
}
#: name -> label-free pretraining.
PRETRAININGS = {
    'label-free-vitkd':
    Pretraining(
        'vit-d48_vitkd-pretrain_fashion-mnist.py',
        'ViTKD (mimic blocks 0, 1 + generate deep) on the 50,000 unlabelled '
        'training images, student without head or loss of its own',
        epochs=6),
}
#: Arms on 1k labelled images, with and without label-free pretraining.
LABEL_FREE_ARMS = [
    'student_1k', 'vitkd-nkd_1k', 'label-free-vitkd_1k',
    'label-free-vitkd_vitkd-nkd_1k'
]
#: The arms ``--seeds`` applies to (and drawn bold in the curves).
MAIN_ARMS = ['student', 'nkd', 'vitkd', 'vitkd-nkd']
#: ViTKD+NKD with its teacher's forward in bf16, against the fp32 teacher.
BF16_TEACHER_ARMS = ['vitkd-nkd', 'vitkd-nkd_bf16-teacher']
#: ViTKD from a teacher whose token grid differs from the student's.
GRID_MISMATCH_ARMS = ['vitkd_teacher-p7', 'vitkd_teacher-p7-resize49']
ABLATION_ARMS = [
    'vitkd-deep-mimic', 'vitkd-shallow-only', 'vitkd-deep-only',
    'vitkd-gen-self-attn', 'vitkd-gen-cross-attn'
]

#: name -> mode. ``demo`` prints its comparison; the others write a report.
#: ``bf16-teacher`` and ``grid-mismatch`` are modes of their own, outside
#: ``full``: a bf16 teacher is several times slower on a CPU without native
#: bf16, and the grid-mismatch arms need a second teacher.
MODES = {
    'demo':
    Mode(5, {
        'student': [0],
        'vitkd-nkd': [0]
    }),
    'quick':
    Mode(10, {arm: [0]
              for arm in MAIN_ARMS}),
    'full':
    Mode(
        15, {
            **{
                arm: [0, 1, 2]
                for arm in MAIN_ARMS
            },
            **{
                arm: [0]
                for arm in ABLATION_ARMS
            }
        }),
    'bf16-teacher':
    Mode(15, {arm: [0, 1, 2]
              for arm in BF16_TEACHER_ARMS}),
    'grid-mismatch':
    Mode(15,
         {arm: [0, 1, 2]
          for arm in ['student', 'vitkd', *GRID_MISMATCH_ARMS]}),
    'alignment':
    Mode(15, {
        'vitkd-nkd': [0],
        'vitkd': [0]
    }),
    'label-free':
    Mode(
        80, {arm: [0, 1, 2]
             for arm in LABEL_FREE_ARMS},
        data='the 1,000 labelled images (100 per class, drawn once from the '
        'first 10k)',
        label_free=True),
}


class Claim(NamedTuple):
    """A claim the kit checks on the mean top-1 of two arms.

    Args:
        text (str): The claim, as the report prints it.
        arm (str): The arm the claim is about.
        reference (str): The arm it is compared with.
        kind (str): ``'beats'``: ``arm``'s mean is above ``reference``'s;
            ``'matches'``: it is within one seed std of ``reference``'s
            mean, or above. Defaults to ``'beats'``.
    """
    text: str
    arm: str
    reference: str
    kind: str = 'beats'


#: The claims the kit can check, the paper's and ours.
CLAIMS = [
    Claim('ViTKD beats the student alone', 'vitkd', 'student'),
    Claim('NKD beats the student alone', 'nkd', 'student'),
    Claim('ViTKD+NKD beats ViTKD (complementary)', 'vitkd-nkd', 'vitkd'),
    Claim('ViTKD+NKD beats NKD (complementary)', 'vitkd-nkd', 'nkd'),
    Claim('deep: generating beats mimicking', 'vitkd', 'vitkd-deep-mimic'),
    Claim('shallow mimic adds to deep generation', 'vitkd', 'vitkd-deep-only'),
    Claim('deep generation adds to shallow mimic', 'vitkd',
          'vitkd-shallow-only'),
    Claim('conv generator beats self-attention', 'vitkd',
          'vitkd-gen-self-attn'),
    Claim('conv generator beats cross-attention', 'vitkd',
          'vitkd-gen-cross-attn'),
    # beyond the paper: a bf16 teacher, teachers with another token grid
    Claim('a bf16 teacher does as well as an fp32 one',
          'vitkd-nkd_bf16-teacher', 'vitkd-nkd', 'matches'),
    Claim(
        'ViTKD from a 4 x 4-grid teacher (tokens resized) beats the '
        'student', 'vitkd_teacher-p7', 'student'),
    Claim(
        'ViTKD from a 4 x 4-grid teacher (input resized) beats the '
        'student', 'vitkd_teacher-p7-resize49', 'student'),
    Claim('resizing the teacher\'s tokens beats resizing its input',
          'vitkd_teacher-p7', 'vitkd_teacher-p7-resize49'),
    # label-free: 1k labelled images, 50k unlabelled ones
    Claim('label-free ViTKD pretraining beats the student alone (1k labels)',
          'label-free-vitkd_1k', 'student_1k'),
    Claim('label-free ViTKD pretraining adds to ViTKD+NKD (1k labels)',
          'label-free-vitkd_vitkd-nkd_1k', 'vitkd-nkd_1k'),
    Claim(
        'label-free ViTKD pretraining beats ViTKD+NKD without it (1k '
        'labels)', 'label-free-vitkd_1k', 'vitkd-nkd_1k'),
]


def config_path(name: str) -> str:
    """The repo-relative path of a kit config."""
    return osp.join(CONFIG_DIR, name)
