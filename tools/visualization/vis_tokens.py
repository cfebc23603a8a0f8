"""Token maps and linear CKA of a distillation checkpoint on any images.

For a ``SingleTeacherDistill`` config and a checkpoint of it (the one the
Runner saves: student, teacher and distiller weights), runs teacher and
student on the given images through the distiller's own recorders and
connectors, and writes to ``--out``:

- ``token_maps_<image name>.png`` per image: the input, then per token
  loss (mimicked layers, deep generation) the teacher's tokens on its own
  grid next to the student's after the connector, the generation's masked
  tokens crossed; a 3-component PCA to RGB, one basis per layer fitted on
  the teacher's tokens of these images (as ``TokenMapHook`` draws them);
- ``cka.png`` and ``cka.json``: per layer, the linear CKA between the
  student's tokens (before the connector) and the teacher's tokens the loss
  compares them with, over all tokens of the images; the table is printed.

Images are read as the student's channels (grayscale for 1) and resized to
the student's ``img_size``.

Examples:
    python tools/visualization/vis_tokens.py \
        configs/vitkd/fashion-mnist/vit-d48_vitkd-nkd_fashion-mnist.py \
        work_dirs/fashion_mnist/alignment_15e/vitkd-nkd/seed0/epoch_15.pth \
        shirt.png bag.png --out vis_tokens
"""
import argparse
import json
import os
import os.path as osp

import torch

import vitkd_mm  # noqa: F401  (safe checkpoint loading, registries)
from vitkd_mm.utils import add_cfg_options, load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Token maps and linear CKA of a distillation checkpoint')
    parser.add_argument('config', help='SingleTeacherDistill config')
    parser.add_argument('checkpoint', help='its checkpoint (whole model)')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the generation mask')
    parser.add_argument('--device', default='cpu')
    add_cfg_options(parser, 'override config settings, as tools/train.py')
    return parser.parse_args(argv)


def build_model(cfg, checkpoint, device):
    """The distillation model with the checkpoint's weights, in eval mode."""
    from mmengine.registry import init_default_scope

    from vitkd_mm.registry import MODELS
    from vitkd_mm.utils import read_checkpoint

    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model
    model_cfg.teacher_ckpt = None  # the checkpoint holds the teacher
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    state = read_checkpoint(checkpoint, 'checkpoint')
    model.load_state_dict(state.get('state_dict', state))
    return model.to(device).eval()


def read_images(paths, model):
    """The images as packed inputs (C, H, W) uint8, at the student's size."""
    import mmcv
    backbone = model.architecture.backbone
    channels = backbone.patch_embed.projection.in_channels
    height, width = backbone.img_size
    images = []
    for path in paths:
        image = mmcv.imread(path, 'grayscale' if channels == 1 else 'color')
        image = mmcv.imresize(image, (width, height))  # H, W[, C]
        image = torch.from_numpy(image.reshape(height, width, channels))
        images.append(image.permute(2, 0, 1).contiguous())  # C, H, W
    return images


def layer_cka(pairs):
    """``{layer: linear CKA}`` of each token loss's student tokens (before
    the connector) and the teacher tokens it is compared with."""
    from vitkd_mm.visualization import linear_cka
    return {
        pair.name.replace('loss_', ''):
        linear_cka(
            pair.student_raw.reshape(-1, pair.student_raw.shape[-1]),
            pair.teacher_aligned.reshape(-1, pair.teacher_aligned.shape[-1]))
        for pair in pairs
    }


def main(argv=None):
    import mmcv

    from vitkd_mm.visualization import (capture_token_pairs, display_image,
                                        draw_cka_bars, draw_token_panels,
                                        fit_pcas, token_panels)
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg, args.checkpoint, args.device)
    images = read_images(args.images, model)
    data = model.data_preprocessor(dict(inputs=images), False)
    pairs = capture_token_pairs(model, data['inputs'], args.seed)
    if not pairs:
        raise SystemExit(f'{args.config}: the distiller has no token loss '
                         '(preds_S/preds_T arguments): nothing to draw.')
    pcas = fit_pcas(pairs)
    bgr = bool(getattr(model.data_preprocessor, '_channel_conversion', False))
    os.makedirs(args.out, exist_ok=True)
    written = []
    for b, path in enumerate(args.images):
        name = osp.splitext(osp.basename(path))[0]
        figure = draw_token_panels(
            display_image(images[b], bgr), token_panels(pairs, pcas, b),
            f'{name} ({osp.basename(args.checkpoint)})')
        written.append(osp.join(args.out, f'token_maps_{name}.png'))
        mmcv.imwrite(figure[..., ::-1], written[-1])  # RGB -> BGR

    cka = layer_cka(pairs)
    mmcv.imwrite(
        draw_cka_bars(
            cka, f'{len(images)} image(s), '
            f'{osp.basename(args.checkpoint)}')[..., ::-1],
        osp.join(args.out, 'cka.png'))
    with open(osp.join(args.out, 'cka.json'), 'w') as f:
        json.dump(
            dict(
                config=args.config,
                checkpoint=args.checkpoint,
                images=args.images,
                cka=cka),
            f,
            indent=1)
    print(f'{"layer":<12}{"linear CKA":>12}')
    for layer, value in cka.items():
        print(f'{layer:<12}{value:>12.4f}')
    print(f'wrote {len(written)} token map(s), cka.png and cka.json '
          f'to {args.out}')
    return cka


if __name__ == '__main__':
    main()
