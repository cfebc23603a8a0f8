# Fine-tune the DeiT-Tiny that deit-t_vitkd-pretrain_dinov2-s.py distilled
# without labels: mmpretrain's DeiT-Tiny recipe (labelled ImageNet here; your
# labelled folder with type='CustomDataset'), its backbone initialised from
# the pretraining's export, the head fresh (zero-initialised, as mmpretrain
# builds it).
# vitkd_mm.StrictPretrained loads every backbone.* key of the file and
# refuses a missing, unexpected or mis-shaped one with the file and the key
# (mmengine's Pretrained would log them and train on from random weights).
# Point it at another export with
#   --cfg-options model.init_cfg.checkpoint=PATH
_base_ = ['mmpretrain::deit/deit-tiny_4xb256_in1k.py']

custom_imports = dict(imports=['vitkd_mm'], allow_failed_imports=False)

model = dict(
    init_cfg=dict(
        _delete_=True,
        type='vitkd_mm.StrictPretrained',
        checkpoint='work_dirs/deit-t_vitkd-pretrain_dinov2-s/student.pth',
        prefix='backbone.'))
