"""Export the student of a distillation checkpoint as a plain checkpoint.

Usage:
    python tools/model_converters/convert_to_student.py \
        work_dirs/deit-t_vitkd/epoch_300.pth \
        checkpoints/deit-t_vitkd_student.pth

The output holds only the student's weights (no teacher, no distiller, no
optimizer), keyed as a stock mmpretrain ``ImageClassifier`` (or, with
``prefix='backbone.'``, an mmdet backbone ``init_cfg``) expects. The input
is read with vitkd_mm's safe loader (no code in it runs) and is never
overwritten; an existing output only with ``--force``.
"""
import argparse
import os
import os.path as osp

import torch

from vitkd_mm.utils import (UnreadableCheckpointError, UnsafeCheckpointError,
                            safe_torch_load, student_checkpoint)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Export the student of a vitkd_mm distillation '
        'checkpoint.')
    parser.add_argument('src', help='distillation checkpoint (.pth)')
    parser.add_argument('dst', help='student checkpoint to write (.pth)')
    parser.add_argument(
        '--force', action='store_true', help='overwrite an existing dst')
    args = parser.parse_args()
    check_paths(parser, args.src, args.dst, args.force)
    return args


def check_paths(parser, src, dst, force):
    """Refuse a missing input, an output that is the input (also through a
    link) or a folder, an output folder that cannot be written and, without
    ``force``, any existing output."""
    if not osp.isfile(src):
        parser.error(f'src: {src} is not a file.')
    if osp.isdir(dst):
        example = osp.join(dst, 'student.pth')
        parser.error(f'dst: {dst} is a folder; give the path of the file '
                     f'to write, e.g. {example}.')
    folder = _existing_parent(osp.dirname(osp.abspath(dst)))
    if not osp.isdir(folder):
        parser.error(f'dst: cannot create the folder of {dst}: {folder} is '
                     'a file.')
    if not os.access(folder, os.W_OK | os.X_OK):
        parser.error(f'dst: cannot write {dst}: no write permission in '
                     f'{folder}.')
    if osp.exists(dst) and osp.samefile(src, dst):
        parser.error(f'dst: {dst} is the input checkpoint {src}; writing '
                     'the student there would destroy the training '
                     'checkpoint. Give another dst.')
    if osp.exists(dst) and not force:
        parser.error(f'dst: {dst} exists; pass --force to overwrite it.')


def _existing_parent(path):
    """``path`` or its nearest existing ancestor."""
    while not osp.exists(path):
        path = osp.dirname(path)
    return path


def main():
    args = parse_args()
    try:
        checkpoint = safe_torch_load(args.src, map_location='cpu')
    except (UnsafeCheckpointError, UnreadableCheckpointError) as err:
        raise SystemExit(f'convert_to_student.py: src: {err}') from None
    try:
        student = student_checkpoint(checkpoint)
    except (KeyError, TypeError) as err:
        message = err.args[0] if err.args else err
        raise SystemExit(f'convert_to_student.py: src: {args.src}: '
                         f'{message}') from None
    try:
        if osp.dirname(args.dst):
            os.makedirs(osp.dirname(args.dst), exist_ok=True)
        torch.save(student, args.dst)
    except OSError as err:
        raise SystemExit(f'convert_to_student.py: dst: cannot write '
                         f'{args.dst}: {err}') from None
    print(f'Wrote {len(student["state_dict"])} student tensors to '
          f'{args.dst}')


if __name__ == '__main__':
    main()
