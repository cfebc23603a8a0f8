"""Write a tiny COCO-format instance-segmentation set, laid out like COCO 2017.

Usage:
    # synthetic: non-square images with coloured polygons
    python tools/dataset_converters/make_tiny_coco.py data/tiny_coco \
        --num-train 4 --num-val 2
    # Debian's labelme example (apt-get install labelme-examples)
    python tools/dataset_converters/make_tiny_coco.py data/labelme_coco \
        --labelme

Either way ``OUT`` gets ``train2017/``, ``val2017/`` and
``annotations/instances_{train,val}2017.json`` with polygon masks, boxes and
areas. The categories are COCO's 80, named as in mmdet's ``CocoDataset``, so
the stock configs run on it by changing only the data root and annotation
files. Synthetic shapes borrow three COCO names (a triangle is a "person", a
quadrilateral a "car", a pentagon a "dog"); the labelme example's Pascal VOC
names are mapped onto their COCO counterparts.
"""
import argparse
import json
import math
import os
import os.path as osp
import shutil

import numpy as np
from mmdet.datasets import CocoDataset
from PIL import Image, ImageDraw

COCO_CLASSES = CocoDataset.METAINFO['classes']
#: Synthetic category per number of polygon vertices, and its colour.
SHAPES = {
    3: ('person', (220, 40, 40)),
    4: ('car', (40, 200, 60)),
    5: ('dog', (40, 80, 220))
}
LABELME_COCO = ('/usr/share/doc/labelme-examples/examples/'
                'instance_segmentation/data_dataset_coco')
#: Pascal VOC names (labelme example) whose COCO name differs.
VOC_TO_COCO = {
    'aeroplane': 'airplane',
    'diningtable': 'dining table',
    'motorbike': 'motorcycle',
    'sofa': 'couch',
    'tv/monitor': 'tv',
}


def coco_categories():
    """COCO's 80 categories with ids 1..80 in mmdet's class order."""
    return [
        dict(id=i + 1, name=name, supercategory='none')
        for i, name in enumerate(COCO_CLASSES)
    ]


def polygon_area(xs, ys):
    """Shoelace area of a simple polygon."""
    return 0.5 * abs(
        float(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))


def random_polygon(rng, height, width):
    """A convex polygon of 3 to 5 vertices fully inside the image.

    Returns:
        tuple[int, np.ndarray]: Number of vertices and ``K x 2`` (x, y).
    """
    num_vertices = int(rng.integers(3, 6))
    radius = rng.uniform(20, min(height, width) / 3)
    cx = rng.uniform(radius, width - radius)
    cy = rng.uniform(radius, height - radius)
    # points on a circle in angular order make a convex polygon
    spacing = 2 * math.pi / num_vertices
    angles = (
        rng.uniform(0, 2 * math.pi) + spacing * np.arange(num_vertices) +
        spacing * rng.uniform(-0.3, 0.3, num_vertices))
    points = np.stack(
        [cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1)
    return num_vertices, points.round(2)


def synthetic_split(out_dir, split, num_images, first_id, rng):
    """Draw ``num_images`` images; return their COCO dict."""
    category_ids = {name: i + 1 for i, name in enumerate(COCO_CLASSES)}
    images, annotations = [], []
    os.makedirs(osp.join(out_dir, f'{split}2017'), exist_ok=True)
    for image_id in range(first_id, first_id + num_images):
        height = int(rng.integers(160, 321))
        width = int(rng.integers(160, 401))
        background = rng.integers(0, 256, size=(height, width, 3))
        image = Image.fromarray(background.astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(1, 4))):
            num_vertices, points = random_polygon(rng, height, width)
            name, colour = SHAPES[num_vertices]
            draw.polygon([tuple(p) for p in points], fill=colour)
            xs, ys = points[:, 0], points[:, 1]
            x0, y0 = float(xs.min()), float(ys.min())
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=image_id,
                    category_id=category_ids[name],
                    segmentation=[points.reshape(-1).tolist()],
                    area=polygon_area(xs, ys),
                    bbox=[x0, y0,
                          float(xs.max()) - x0,
                          float(ys.max()) - y0],
                    iscrowd=0))
        file_name = f'{image_id:012d}.jpg'
        image.save(osp.join(out_dir, f'{split}2017', file_name), quality=95)
        images.append(
            dict(id=image_id, file_name=file_name, height=height, width=width))
    return dict(
        images=images, annotations=annotations, categories=coco_categories())


def labelme_coco(src_dir):
    """The labelme example's COCO file, remapped onto COCO's categories.

    Image and annotation ids are renumbered from 1, file names made
    relative to the image folder, and the VOC category names (plus the
    unused ``_background_``) mapped onto COCO's 80.
    """
    with open(osp.join(src_dir, 'annotations.json'), encoding='utf-8') as f:
        src = json.load(f)
    category_ids = {name: i + 1 for i, name in enumerate(COCO_CLASSES)}
    src_names = {c['id']: c['name'] for c in src['categories']}
    image_ids = {img['id']: i + 1 for i, img in enumerate(src['images'])}
    images = [
        dict(
            id=image_ids[img['id']],
            file_name=osp.basename(img['file_name']),
            height=img['height'],
            width=img['width']) for img in src['images']
    ]
    annotations = []
    for i, ann in enumerate(src['annotations']):
        name = src_names[ann['category_id']]
        annotations.append(
            dict(
                id=i + 1,
                image_id=image_ids[ann['image_id']],
                category_id=category_ids[VOC_TO_COCO.get(name, name)],
                segmentation=ann['segmentation'],
                area=ann['area'],
                bbox=ann['bbox'],
                iscrowd=ann['iscrowd']))
    return dict(
        images=images, annotations=annotations, categories=coco_categories())


def write_json(out_dir, split, coco):
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    path = osp.join(out_dir, 'annotations', f'instances_{split}2017.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(coco, f)
    return path


def make_synthetic(out_dir, num_train=4, num_val=2, seed=0):
    """Write the synthetic set; return the two annotation file paths."""
    rng = np.random.default_rng(seed)
    train = synthetic_split(out_dir, 'train', num_train, 1, rng)
    val = synthetic_split(out_dir, 'val', num_val, num_train + 1, rng)
    return (write_json(out_dir, 'train',
                       train), write_json(out_dir, 'val', val))


def make_labelme(out_dir, src_dir=LABELME_COCO):
    """Write the labelme example as both train and val split."""
    if not osp.isfile(osp.join(src_dir, 'annotations.json')):
        raise FileNotFoundError(
            f'No annotations.json in {src_dir}: install Debian\'s labelme '
            'example data with `apt-get install labelme-examples`.')
    coco = labelme_coco(src_dir)
    paths = []
    for split in ('train', 'val'):
        os.makedirs(osp.join(out_dir, f'{split}2017'), exist_ok=True)
        for img in coco['images']:
            shutil.copy(
                osp.join(src_dir, 'JPEGImages', img['file_name']),
                osp.join(out_dir, f'{split}2017', img['file_name']))
        paths.append(write_json(out_dir, split, coco))
    return tuple(paths)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Write a tiny COCO-format instance segmentation set.')
    parser.add_argument('out', help='output folder (COCO 2017 layout)')
    parser.add_argument('--num-train', type=int, default=4)
    parser.add_argument('--num-val', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--labelme',
        nargs='?',
        const=LABELME_COCO,
        metavar='DIR',
        help='convert the labelme example COCO set instead (default DIR: '
        f'{LABELME_COCO})')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.labelme:
        paths = make_labelme(args.out, args.labelme)
    else:
        paths = make_synthetic(args.out, args.num_train, args.num_val,
                               args.seed)
    print('Wrote', *paths)


if __name__ == '__main__':
    main()
