"""tools/model_converters/convert_to_student.py: it refuses checkpoints that
would run code or that it cannot read, never destroys a file, and names
what is wrong with its arguments.

The ``evil`` and ``unreadable`` fixtures are in tests/conftest.py."""
import subprocess
import sys

import pytest
import torch

from tests.utils import PYTHON, REPO_ROOT, check_unreadable_message
from vitkd_mm.utils import safe_torch_load


@pytest.fixture
def convert_to_student(monkeypatch, capsys):
    """Run tools/model_converters/convert_to_student.py in-process: (exit
    status, stderr)."""
    from model_converters import convert_to_student as tool

    def convert(*args):
        monkeypatch.setattr(sys, 'argv',
                            ['convert_to_student.py', *map(str, args)])
        try:
            tool.main()
        except SystemExit as exit:
            code = exit.code
        else:
            code = 0
        stderr = capsys.readouterr().err
        # SystemExit('message') prints the message and exits with 1
        return (1, stderr + code) if isinstance(code, str) else (code, stderr)

    return convert


def test_convert_to_student_refuses_payload(evil, tmp_path,
                                            convert_to_student):
    path, _ = evil
    code, stderr = convert_to_student(path, tmp_path / 'student.pth')
    assert code == 1
    assert 'src: Refused to load' in stderr and path in stderr
    assert not (tmp_path / 'student.pth').exists()


def test_convert_to_student_unreadable_names_src(unreadable, tmp_path,
                                                 convert_to_student):
    code, stderr = convert_to_student(unreadable, tmp_path / 'student.pth')
    assert code == 1
    assert 'src: Cannot read checkpoint' in stderr
    check_unreadable_message(stderr, unreadable)


@pytest.fixture
def distill_ckpt(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    torch.save(
        dict(
            state_dict={
                'architecture.backbone.w': torch.ones(2),
                'teacher.backbone.w': torch.zeros(3)
            }), path)
    return path


@pytest.mark.parametrize('same', ['path', 'symlink', 'dotted'])
def test_convert_to_student_refuses_to_overwrite_its_input(
        distill_ckpt, convert_to_student, same):
    before = distill_ckpt.read_bytes()
    dst = dict(
        path=distill_ckpt,
        symlink=distill_ckpt.parent / 'link.pth',
        dotted=distill_ckpt.parent / '.' / 'sub' / '..' / distill_ckpt.name)
    dst = dst[same]
    if same == 'symlink':
        dst.symlink_to(distill_ckpt)
    if same == 'dotted':
        (distill_ckpt.parent / 'sub').mkdir()
    code, stderr = convert_to_student(distill_ckpt, dst)
    assert code == 2
    assert f'dst: {dst} is the input checkpoint' in stderr
    assert distill_ckpt.read_bytes() == before


def test_convert_to_student_overwrites_an_output_only_with_force(
        distill_ckpt, convert_to_student, tmp_path):
    dst = tmp_path / 'student.pth'
    dst.write_bytes(b'older student')
    code, stderr = convert_to_student(distill_ckpt, dst)
    assert code == 2
    assert f'dst: {dst} exists; pass --force' in stderr
    assert dst.read_bytes() == b'older student'

    assert convert_to_student(distill_ckpt, dst, '--force')[0] == 0
    student = safe_torch_load(dst)['state_dict']
    assert list(student) == ['backbone.w']
    assert torch.equal(student['backbone.w'], torch.ones(2))


def test_convert_to_student_names_a_missing_input(tmp_path,
                                                  convert_to_student):
    code, stderr = convert_to_student(tmp_path / 'no.pth', tmp_path / 'o.pth')
    assert code == 2 and f'src: {tmp_path / "no.pth"} is not a file' in stderr


def test_convert_to_student_names_a_dst_that_is_a_folder(
        distill_ckpt, convert_to_student, tmp_path):
    code, stderr = convert_to_student(distill_ckpt, tmp_path, '--force')
    assert code == 2
    assert (f'dst: {tmp_path} is a folder; give the path of the file to '
            f'write, e.g. {tmp_path / "student.pth"}') in stderr


def test_convert_to_student_names_a_dst_folder_it_cannot_create(
        distill_ckpt, convert_to_student, tmp_path):
    (tmp_path / 'out').write_text('a file')
    dst = tmp_path / 'out' / 'student.pth'
    code, stderr = convert_to_student(distill_ckpt, dst)
    assert code == 2
    assert (f'dst: cannot create the folder of {dst}: {tmp_path / "out"} '
            'is a file') in stderr
    assert (tmp_path / 'out').read_text() == 'a file'


def test_convert_to_student_names_a_src_that_is_no_checkpoint(
        tmp_path, convert_to_student):
    src = tmp_path / 'tensor.pth'
    torch.save(torch.ones(2), src)
    code, stderr = convert_to_student(src, tmp_path / 'student.pth')
    assert code == 1 and 'Traceback' not in stderr
    assert (f'convert_to_student.py: src: {src}: a checkpoint is a dict '
            'with a state_dict, got a Tensor.') in stderr
    assert not (tmp_path / 'student.pth').exists()


def test_convert_rejects_a_plain_checkpoint(tmp_path):
    src = str(tmp_path / 'plain.pth')
    torch.save(dict(state_dict={'backbone.w': torch.zeros(1)}), src)
    result = subprocess.run([
        PYTHON, 'tools/model_converters/convert_to_student.py', src,
        str(tmp_path / 'out.pth')
    ],
                            cwd=REPO_ROOT,
                            capture_output=True,
                            text=True)
    assert result.returncode != 0
    assert "No key starts with 'architecture.'" in result.stderr
