"""Export the student of a distillation checkpoint as a plain checkpoint.

Usage:
    python tools/model_converters/convert_to_student.py \
        work_dirs/deit-t_vitkd/epoch_300.pth \
        checkpoints/deit-t_vitkd_student.pth

The output holds only the student's weights (no teacher, no distiller, no
optimizer), keyed as a stock mmpretrain ``ImageClassifier`` (or, with
``prefix='backbone.'``, an mmdet backbone ``init_cfg``) expects.
"""
import argparse
import os
import os.path as osp

import torch

import vitkd_mm  # noqa: F401  (allow-lists mmengine checkpoint types)
from vitkd_mm.utils import student_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(
        description='Export the student of a vitkd_mm distillation '
        'checkpoint.')
    parser.add_argument('src', help='distillation checkpoint (.pth)')
    parser.add_argument('dst', help='student checkpoint to write (.pth)')
    return parser.parse_args()


def main():
    args = parse_args()
    checkpoint = torch.load(args.src, map_location='cpu')
    student = student_checkpoint(checkpoint)
    if osp.dirname(args.dst):
        os.makedirs(osp.dirname(args.dst), exist_ok=True)
    torch.save(student, args.dst)
    print(f'Wrote {len(student["state_dict"])} student tensors to '
          f'{args.dst}')


if __name__ == '__main__':
    main()
