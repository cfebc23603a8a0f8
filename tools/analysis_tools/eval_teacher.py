"""Top-1 of a classifier as a distillation teacher runs it.

Evaluates a classifier config + checkpoint on the config's test set with
the same two settings ``SingleTeacherDistill`` gives a teacher:
``--precision`` (``teacher_precision``: the forward under
``torch.autocast`` of that dtype) and ``--size`` (``teacher_input.size``:
the normalised batch resized with ``F.interpolate``, as the teacher input
conversion does). So it answers "what does this teacher score in bf16?"
and "what does it score at the input size a distillation config feeds
it?" before a distillation run relies on it.

Examples:
    python tools/analysis_tools/eval_teacher.py \
        configs/vitkd/fashion-mnist/vit-d96_teacher_fashion-mnist.py \
        checkpoints/fashion_mnist/vit-d96_teacher_fashion-mnist.pth \
        --precision bf16
    python tools/analysis_tools/eval_teacher.py \
        configs/vitkd/fashion-mnist/vit-d96-p7_teacher_fashion-mnist.py \
        checkpoints/fashion_mnist/vit-d96-p7_teacher_fashion-mnist.pth \
        --size 49
"""
import argparse
import json
import time

import torch
from mmengine.config import Config, DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Top-1 of a classifier in a teacher precision and '
        'input size')
    parser.add_argument('config', help='classifier config')
    parser.add_argument(
        'checkpoint',
        help='its weights (state dict or '
        'mmengine checkpoint)')
    parser.add_argument(
        '--precision',
        default='fp32',
        choices=['fp32', 'bf16', 'fp16'],
        help='teacher_precision of the forward (fp16: CUDA only)')
    parser.add_argument(
        '--size', type=int, help='teacher_input.size: resize the batch')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--json', help='also write the figures to this JSON file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, as tools/train.py')
    return parser.parse_args(argv)


def evaluate(cfg, checkpoint, precision='fp32', size=None, device='cpu'):
    """Top-1 (%) of a classifier on its config's test dataloader.

    Args:
        cfg (Config): The classifier's config.
        checkpoint (str): Its weights.
        precision (str): ``teacher_precision`` of the forward.
        size (int, optional): ``teacher_input.size``.
        device (str): Where to run.

    Returns:
        dict: ``top1``, ``samples``, ``predictions`` (the predicted class
        of each test image, in order), ``seconds`` and the settings.
    """
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    import vitkd_mm  # noqa: F401  (safe checkpoint loading, registries)
    from vitkd_mm.models.algorithms.teacher_input import build_teacher_input
    from vitkd_mm.models.algorithms.teacher_precision import TeacherPrecision
    from vitkd_mm.registry import MODELS
    from vitkd_mm.utils import read_checkpoint

    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    state = read_checkpoint(checkpoint, 'checkpoint')
    model.load_state_dict(state.get('state_dict', state))
    model.to(device).eval()
    autocast = TeacherPrecision(precision, torch.device(device).type)
    resize = build_teacher_input(None if size is None else dict(size=size),
                                 model.data_preprocessor,
                                 model.data_preprocessor)
    loader = Runner.build_dataloader(cfg.test_dataloader)
    predictions, labels = [], []
    start = time.time()
    with torch.no_grad():
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            inputs = resize(data['inputs'])
            with autocast.autocast(inputs.device.type):
                logits = model(inputs, mode='tensor')
            predictions += logits.argmax(1).tolist()
            labels += [int(s.gt_label) for s in data['data_samples']]
    return dict(
        checkpoint=checkpoint,
        precision=precision,
        size=size,
        device=device,
        samples=len(labels),
        top1=100 * sum(p == t
                       for p, t in zip(predictions, labels)) / len(labels),
        predictions=predictions,
        seconds=round(time.time() - start, 1))


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    result = dict(
        config=args.config,
        **evaluate(cfg, args.checkpoint, args.precision, args.size,
                   args.device))
    size = 'the config\'s' if args.size is None else f'{args.size} px'
    print(f'top-1 {result["top1"]:.2f} % on {result["samples"]} test '
          f'images, {args.precision}, input size {size}, {args.device} '
          f'({result["seconds"]} s)')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
