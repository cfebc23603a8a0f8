# Label-free ViTKD: DeiT-Tiny learns DINOv2-S/14's features on a folder of
# images nobody labelled, then deit-t_finetune_from-vitkd-pretrain.py
# fine-tunes it on the labelled images you have.
# - Data: mmpretrain's CustomDataset(with_label=False) reads every image
#   under data_root/data_prefix, at any depth, and no label (ImageNet's train
#   folder is the documented example; its class folders are not read). The
#   training pipeline is the DeiT recipe's (RandomResizedCrop, flip,
#   RandAugment, RandomErasing): teacher and student see the same view.
# - Nothing reads a label: the student has no head (it is not run) and no
#   loss of its own (calculate_student_loss=False); the terms are ViTKD's
#   mimic (blocks 0, 1) and generation (deep) losses; NKD needs labels and
#   a teacher head (DINOv2 has none). Mixup/CutMix are off: mmpretrain mixes
#   only batches that carry labels, and here the teacher's features of the
#   same image are the target, so there is no label to soften. A batch
#   without labels while something would read them stops at the first step
#   with the key that reads them.
# - No validation: the student has no head to score (the teacher's k-NN of
#   deit-t_vitkd_dinov2-s.py needs labelled images).
# - The end of training writes work_dirs/<this config>/student.pth: the
#   student's backbone (keys backbone.*), what the fine-tune config loads.
_base_ = ['./deit-t_vitkd_dinov2-s.py']

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root='data/imagenet',
        data_prefix='train',
        with_label=False,
        pipeline={{_base_.train_pipeline}}))

model = dict(
    architecture=dict(neck=None, head=None, train_cfg=None),
    calculate_student_loss=False)

# Nothing to validate or test without labels (see above).
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None
default_hooks = dict(token_maps=dict(enable=False))
