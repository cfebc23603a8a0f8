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
standard download address mmpretrain itself knows. Every file is checked
(IDX magic number, shape, label range) before it is put in place.

Examples:
    # Debian package
    python tools/dataset_converters/prepare_fashion_mnist.py
    # any folder with the *.gz files
    python tools/dataset_converters/prepare_fashion_mnist.py --src ~/fmnist
    # other machines
    python tools/dataset_converters/prepare_fashion_mnist.py --download
"""
import argparse
import gzip
import hashlib
import os
import os.path as osp
import shutil
import struct
import tempfile
import urllib.request

DEFAULT_SRC = '/usr/share/datasets/fashion-mnist'
DEFAULT_OUT = 'data/fashion_mnist'
#: The address and gz checksums mmpretrain's ``FashionMNIST`` uses.
URL_PREFIX = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'
GZ_MD5 = {
    'train-images-idx3-ubyte.gz': '8d4fb7e6c68d591d4c3dfef9ec88bf0d',
    'train-labels-idx1-ubyte.gz': '25c81989df183df01b3e8a0aad5dffbe',
    't10k-images-idx3-ubyte.gz': 'bef4ecab320f06d8554ea6380940ec79',
    't10k-labels-idx1-ubyte.gz': 'bb300cfdad3c16e7a12a480ee83cd310',
}
#: Expected IDX shape of each decompressed file of the full dataset.
SHAPES = {
    'train-images-idx3-ubyte': (60000, 28, 28),
    'train-labels-idx1-ubyte': (60000, ),
    't10k-images-idx3-ubyte': (10000, 28, 28),
    't10k-labels-idx1-ubyte': (10000, ),
}
NUM_CLASSES = 10


def read_idx_header(path):
    """Read the header of an uncompressed IDX file.

    Args:
        path (str): Path of the file.

    Returns:
        tuple[int, tuple[int]]: The IDX data type code (8 for uint8) and the
        shape stored in the header.
    """
    with open(path, 'rb') as f:
        zero, dtype, ndim = struct.unpack('>HBB', f.read(4))
        if zero != 0:
            raise ValueError(f'{path} is not an IDX file (bad magic number)')
        shape = struct.unpack(f'>{ndim}I', f.read(4 * ndim))
    return dtype, shape


def check_idx_file(path, shape=None):
    """Check that ``path`` is a complete uint8 IDX file of the right shape.

    Args:
        path (str): Path of the uncompressed file.
        shape (tuple[int], optional): The shape it must have; ``None`` checks
            only the rank (3 for images, 1 for labels, from the file name).

    Raises:
        ValueError: On a wrong type, rank, shape, size or label value.
    """
    dtype, got = read_idx_header(path)
    rank = 1 if 'labels' in osp.basename(path) else 3
    if dtype != 0x08 or len(got) != rank:
        raise ValueError(f'{path}: expected a uint8 IDX file of rank {rank}, '
                         f'got type {dtype:#x} and shape {got}')
    if shape is not None and tuple(got) != tuple(shape):
        raise ValueError(f'{path}: expected shape {shape}, got {got}')
    num = 1
    for n in got:
        num *= n
    header = 4 + 4 * len(got)
    if os.path.getsize(path) != header + num:
        raise ValueError(f'{path}: {os.path.getsize(path)} bytes, expected '
                         f'{header + num} for shape {got}')
    if rank == 1:
        with open(path, 'rb') as f:
            f.seek(header)
            labels = f.read()
        if max(labels) >= NUM_CLASSES:
            raise ValueError(f'{path}: label {max(labels)} out of range')


def md5sum(path):
    """The md5 hex digest of a file."""
    digest = hashlib.md5()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def download(dst_dir):
    """Download the four gz files from :data:`URL_PREFIX` into ``dst_dir``.

    The files are checked against mmpretrain's md5 sums.
    """
    for name, md5 in GZ_MD5.items():
        dst = osp.join(dst_dir, name)
        print(f'downloading {URL_PREFIX + name}')
        with urllib.request.urlopen(URL_PREFIX + name, timeout=60) as r, \
                open(dst, 'wb') as f:
            shutil.copyfileobj(r, f)
        if md5sum(dst) != md5:
            raise RuntimeError(f'md5 mismatch for downloaded {name}')


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
                '(tools/fashion_mnist/run_arms.py: --data-src) at a folder '
                'with '
                'the files, or pass --download.')
        opener = gzip.open if src.endswith('.gz') else open
        tmp = dst + '.tmp'
        with opener(src, 'rb') as fin, open(tmp, 'wb') as fout:
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
        help=f'download the gz files from {URL_PREFIX} instead of --src')
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
