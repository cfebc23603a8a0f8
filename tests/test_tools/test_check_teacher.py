"""tools/analysis_tools/check_teacher.py: a teacher checkpoint's top-1, with
the teacher run as the distillation runs it."""
import os.path as osp

import pytest
import torch

from tests.fashion_mnist_utils import ANY_SIZE, CONFIG_DIR
from tools.dataset_converters import prepare_fashion_mnist as prep


@pytest.mark.parametrize('precision, size', [('fp32', None), ('fp32', 49),
                                             ('bf16', None)])
def test_check_teacher_scores_the_teacher_as_distillation_runs_it(
        fake_gz, tmp_path, capsys, precision, size):
    """tools/analysis_tools/check_teacher.py on the 7 px-patch teacher's
    configs (its own input size, or 49 px through teacher_input.size): the
    printed top-1 equals the accuracy of the teacher's logits computed here
    by hand, the batch normalised, resized (F.interpolate, bilinear) and run
    under autocast as SingleTeacherDistill does; a DDP-saved
    (``module.``-prefixed) file loads as it does as teacher_ckpt."""
    import torch.nn.functional as F
    from analysis_tools import check_teacher
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    src, data = fake_gz
    root = str(tmp_path / 'fashion_mnist')
    prep.prepare(src, root, shapes=ANY_SIZE)
    name = 'vit-d48_vitkd_teacher-p7' + ('' if size is None else
                                         '-resize49') + '_fashion-mnist.py'
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    torch.manual_seed(0)
    teacher = MODELS.build(cfg.model.teacher)
    checkpoint = str(tmp_path / 'teacher.pth')
    torch.save({
        'module.' + k: v
        for k, v in teacher.state_dict().items()
    }, checkpoint)
    options = [
        f'val_dataloader.dataset.data_root={root}',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers='
        'False', f'model.teacher_precision={precision}'
    ]
    assert check_teacher.main([
        osp.join(CONFIG_DIR, name), '--checkpoint', checkpoint,
        '--cfg-options', *options
    ]) == 0
    printed = capsys.readouterr().out
    images, labels = data['t10k']
    mean, std = cfg.data_preprocessor.mean[0], cfg.data_preprocessor.std[0]
    x = (torch.from_numpy(images).float()[:, None] - mean) / std
    if size is not None:
        x = F.interpolate(
            x, size=(size, size), mode='bilinear', align_corners=False)
    with torch.no_grad(), torch.autocast(
            'cpu', dtype=torch.bfloat16, enabled=precision == 'bf16'):
        predicted = teacher.eval()(x, mode='tensor').argmax(1)
    expected = 100 * (predicted == torch.from_numpy(labels)).sum() / 4
    assert f'teacher/accuracy/top1  {float(expected):.2f}' in printed
    assert f'{len(teacher.state_dict())} keys loaded' in printed
    assert f', {precision}\n' in printed
    assert ('size 49 x 49 (bilinear)' in printed) == (size is not None)


def test_check_teacher_exits_1_when_the_checkpoint_does_not_load(
        tmp_path, capsys):
    from analysis_tools import check_teacher
    checkpoint = str(tmp_path / 'teacher.pth')
    torch.save({'backbone.cls_token': torch.zeros(1, 1, 5)}, checkpoint)
    config = osp.join(CONFIG_DIR, 'vit-d48_vitkd_fashion-mnist.py')
    assert check_teacher.main([config, '--checkpoint', checkpoint]) == 1
    assert ('The checkpoint does not load: teacher_ckpt='
            in capsys.readouterr().out)
