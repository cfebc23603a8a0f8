"""One rank of tests/test_tools/test_distributed.py's DDP run (started by
torchrun).

Usage: torchrun --nproc_per_node 2 tests/dist_worker.py OUT_DIR TEACHER_CKPT
STEPS BATCH_SIZE

Builds the Runner of ``equivalence_cfg`` as tools/train.py does on a CPU-only
host (gloo, mmengine's DDP wrapper), runs ``train_steps`` and
writes ``OUT_DIR/rank<r>.pth``: the trainable state after every step, the
teacher's final state, what DDP reduces, and the teacher BatchNorm's
``num_batches_tracked`` after every step, which rank 1 raises by one right
after wrapping (a per-step broadcast from rank 0 would undo that).
"""
import os.path as osp
import sys

import torch
from mmengine.dist import get_rank
from mmengine.runner import Runner

from tests.dist_utils import TEACHER_BN, equivalence_cfg, train_steps, unwrap


def main():
    from tools.train import end_distributed, init_cpu_distributed
    out_dir, teacher_ckpt, steps, batch_size = sys.argv[1:]
    cfg = equivalence_cfg(osp.join(out_dir, 'work_dir'), teacher_ckpt)
    cfg.launcher = 'pytorch'
    init_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    model = unwrap(runner.model)
    counter = model.get_buffer(f'{TEACHER_BN}.num_batches_tracked')
    if get_rank() == 1:
        counter += 1
    counts = []
    model.register_forward_hook(lambda *_: counts.append(int(counter)))
    states = train_steps(runner, int(steps), int(batch_size))
    if get_rank() == 1:
        counter -= 1
    logging_data = runner.model._get_ddp_logging_data()
    torch.save(
        dict(
            states=states,
            counts=counts,
            teacher={
                key[len('teacher.'):]: value
                for key, value in model.state_dict().items()
                if key.startswith('teacher.')
            },
            reduced_tensors=logging_data['num_parameter_tensors'],
            reduced_bytes=logging_data['total_parameter_size_bytes']),
        osp.join(out_dir, f'rank{get_rank()}.pth'))
    del runner, model
    end_distributed()


if __name__ == '__main__':
    main()
