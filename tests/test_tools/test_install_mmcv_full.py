"""tools/install_mmcv_full.sh: the C++20 compiler wrapper and the install
commands.

Skipped without the detection extra (mmdet and full mmcv), which the
script installs, as when these tests were part of the detection tests.
"""
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from tests.utils import REPO_ROOT

pytest.importorskip(
    'mmdet', reason='needs mmdet 3.3.0 and full mmcv (tools/install.sh --det)')
pytest.importorskip('mmcv.ops', reason='needs full mmcv (compiled ops)')

INSTALL_SCRIPT = osp.join(REPO_ROOT, 'tools', 'install_mmcv_full.sh')

CXX20_SOURCE = """
#include <concepts>
#if __cplusplus < 202002L
#error "needs C++20"
#endif
template <std::integral T> T twice(T x) { return 2 * x; }
int main() { return twice(21) == 42 ? 0 : 1; }
"""


@pytest.mark.skipif(not shutil.which('c++'), reason='needs a C++ compiler')
def test_compiler_wrapper_raises_cxx17_to_cxx20(tmp_path):
    source = tmp_path / 'cxx20.cpp'
    source.write_text(CXX20_SOURCE)
    plain = subprocess.run(['c++', '-std=c++17', '-fsyntax-only',
                            str(source)],
                           capture_output=True)
    assert plain.returncode != 0  # the source really needs C++20

    wrapper = subprocess.run(
        ['bash', INSTALL_SCRIPT, '--wrapper-only',
         str(tmp_path / 'bin')],
        check=True,
        capture_output=True,
        text=True).stdout.strip()
    binary = str(tmp_path / 'cxx20')
    subprocess.run([wrapper, '-std=c++17', '-o', binary,
                    str(source)],
                   check=True)
    assert subprocess.run([binary]).returncode == 0


def test_install_script_dry_run(tmp_path):
    wheels = str(tmp_path / 'wheels')
    out = subprocess.run([
        'bash', INSTALL_SCRIPT, '--dry-run', '--python', sys.executable,
        '--find-links', wheels
    ],
                         check=True,
                         capture_output=True,
                         text=True).stdout
    commands = [line[2:] for line in out.splitlines() if line[:2] == '+ ']
    pip = f'{sys.executable} -m pip install'
    assert commands == [
        f'{pip} --only-binary mmcv --find-links {wheels} mmcv==2.1.0',
        f'{pip} setuptools\\<81 wheel ninja',
        f'{pip} --no-build-isolation --no-cache-dir --no-binary mmcv '
        'mmcv==2.1.0',
    ]
