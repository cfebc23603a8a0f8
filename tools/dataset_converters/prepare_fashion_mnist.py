"""Prepare Fashion-MNIST in the layout mmpretrain's ``FashionMNIST`` reads.

mmpretrain 1.2.0's ``FashionMNIST(data_root=ROOT)`` looks for the four
*decompressed* IDX files directly in ``ROOT``::

    ROOT/train-images-idx3-ubyte   (60000 x 28 x 28, uint8)
    ROOT/train-labels-idx1-ubyte   (60000, uint8)
    ROOT/t10k-images-idx3-ubyte    (10000 x 28 x 28, uint8)
    ROOT/t10k-labels-idx1-ubyte    (10000, uint8)

This tool writes exactly those files, from a local directory of the gzipped
originals (by default Debian's ``dataset-fashion-mnist`` package,
``/usr/share/datasets/fashion-mnist``) or, only with ``--download``, from the
address and md5 sums mmpretrain's ``FashionMNIST`` knows (downloaded with
``mmpretrain.datasets.utils.download_url``). Every file is read back with
mmpretrain's own IDX readers and checked (type, shape, size, label range)
before it is put in place.

Examples:
    # Debian package
    python tools/dataset_converters/prepare_fashion_mnist.py
    # any folder with the *.gz files
    python tools/dataset_converters/prepare_fashion_mnist.py --src ~/fmnist
    # other machines
    python tools/dataset_converters/prepare_fashion_mnist.py --download
"""
import argparse
import os
import os.path as osp
import shutil
import tempfile
import warnings
from urllib.parse import urljoin

from mmpretrain.datasets import FashionMNIST
from mmpretrain.datasets.mnist import read_image_file, read_label_file
from mmpretrain.datasets.utils import download_url, open_maybe_compressed_file

DEFAULT_SRC = '/usr/share/datasets/fashion-mnist'
DEFAULT_OUT = 'data/fashion_mnist'
#: Expected IDX shape of each decompressed file of the full dataset.
SHAPES = {
    'train-images-idx3-ubyte': (60000, 28, 28),
    'train-labels-idx1-ubyte': (60000, ),
    't10k-images-idx3-ubyte': (10000, 28, 28),
    't10k-labels-idx1-ubyte': (10000, ),
}
NUM_CLASSES = 10


def check_idx_file(path, shape=None):
    """Check that ``path`` is a complete uint8 IDX file of the right shape.

    Args:
        path (str): Path of the uncompressed file.
        shape (tuple[int], optional): The shape it must have; ``None`` checks
            only the rank (3 for images, 1 for labels, from the file name).

    Raises:
        ValueError: On a wrong type, rank, shape, size or label value.
    """
    labels = 'labels' in osp.basename(path)
    read = read_label_file if labels else read_image_file
    try:
        # mmpretrain's reader: asserts uint8 and the rank, and the header's
        # shape must hold exactly the bytes that follow it.
        with warnings.catch_warnings():  # torch: "array is not writable"
            warnings.simplefilter('ignore', UserWarning)
            data = read(path)
    except (AssertionError, RuntimeError) as error:
        raise ValueError(
            f'{path}: not a complete uint8 IDX file of rank '
            f'{1 if labels else 3} ({os.path.getsize(path)} bytes, expected '
            f'header + data of the shape in its header): {error}') from error
    if shape is not None and tuple(data.shape) != tuple(shape):
        raise ValueError(f'{path}: expected shape {shape}, '
                         f'got {tuple(data.shape)}')
    if labels and int(data.max()) >= NUM_CLASSES:
        raise ValueError(f'{path}: label {int(data.max())} out of range')


def download(dst_dir):
    """Download the four gz files ``FashionMNIST`` lists into ``dst_dir``,
    checked against its md5 sums."""
    for name, md5 in FashionMNIST.train_list + FashionMNIST.test_list:
        download_url(urljoin(FashionMNIST.url_prefix, name), dst_dir, md5=md5)


def find_source(src_dir, name):
    """The path of ``name`` (gzipped or not) in ``src_dir``, or ``None``."""
    for candidate in (name + '.gz', name):
        path = osp.join(src_dir, candidate)
        if osp.isfile(path):
            return path
    return None


def prepare(src_dir, out_dir, shapes=SHAPES, force=False):
    """Write the decompressed, checked IDX files into ``out_dir``.

    Args:
        src_dir (str): Folder holding the four files, gzipped or not.
        out_dir (str): Where mmpretrain's ``data_root`` will point.
        shapes (dict): File name (without ``.gz``) -> expected shape, or
            ``None`` per file to accept any size (used by tests on small
            fake sets).
        force (bool): Rewrite files that are already present and valid.

    Returns:
        list[str]: The names of the files written (skipped ones excluded).
    """
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, shape in shapes.items():
        dst = osp.join(out_dir, name)
        if not force and osp.isfile(dst):
            check_idx_file(dst, shape)
            continue
        src = find_source(src_dir, name)
        if src is None:
            raise FileNotFoundError(
                f'{name}(.gz) not found in {src_dir}. On Debian/Ubuntu '
                '`apt install dataset-fashion-mnist`; else point --src '
                '(tools.fashion_mnist.run_arms: --data-src) at a folder '
                'with the files, or pass --download.')
        tmp = dst + '.tmp'
        with open_maybe_compressed_file(src) as fin, open(tmp, 'wb') as fout:
            shutil.copyfileobj(fin, fout)
        try:
            check_idx_file(tmp, shape)
        except ValueError:
            os.remove(tmp)
            raise
        os.replace(tmp, dst)
        written.append(name)
    return written


def is_prepared(out_dir, shapes=SHAPES):
    """Whether ``out_dir`` already holds all files with valid headers."""
    try:
        for name, shape in shapes.items():
            check_idx_file(osp.join(out_dir, name), shape)
    except (OSError, ValueError):
        return False
    return True


def parse_args():
    parser = argparse.ArgumentParser(
        description='Prepare Fashion-MNIST for mmpretrain\'s FashionMNIST')
    parser.add_argument(
        '--src',
        default=DEFAULT_SRC,
        help='folder with the *-ubyte(.gz) files (default: Debian package)')
    parser.add_argument('--out', default=DEFAULT_OUT, help='output data_root')
    parser.add_argument(
        '--download',
        action='store_true',
        help=f'download the gz files from {FashionMNIST.url_prefix} '
        'instead of --src')
    parser.add_argument(
        '--force', action='store_true', help='overwrite existing files')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.download:
        with tempfile.TemporaryDirectory() as tmp:
            download(tmp)
            written = prepare(tmp, args.out, force=args.force)
    else:
        written = prepare(args.src, args.out, force=args.force)
    print(f'Fashion-MNIST ready in {args.out} '
          f'({len(written)} file(s) written, {4 - len(written)} kept)')


if __name__ == '__main__':
    main()
