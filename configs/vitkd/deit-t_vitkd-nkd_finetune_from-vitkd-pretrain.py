# deit-t_finetune_from-vitkd-pretrain.py with ViTKD+NKD from DeiT III-Small
# on the labelled set (deit-t_vitkd-nkd.py): the student's backbone starts
# from the label-free pretraining's export, strictly loaded, the head fresh.
# Point it at another export with
#   --cfg-options model.architecture.init_cfg.checkpoint=PATH
_base_ = ['./deit-t_vitkd-nkd.py']

model = dict(
    architecture=dict(
        init_cfg=dict(
            _delete_=True,
            type='vitkd_mm.StrictPretrained',
            checkpoint='work_dirs/deit-t_vitkd-pretrain_dinov2-s/student.pth',
            prefix='backbone.')))
