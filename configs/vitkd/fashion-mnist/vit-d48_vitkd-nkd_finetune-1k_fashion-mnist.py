# ViTKD + NKD on the 1,000 labelled images, the student's backbone
# initialised from the label-free pretraining, strictly, the head fresh. The
# kit passes each seed's export with
#   --cfg-options model.architecture.init_cfg.checkpoint=PATH
_base_ = ['./vit-d48_vitkd-nkd_1k_fashion-mnist.py']

model = dict(
    architecture=dict(
        init_cfg=dict(
            _delete_=True,
            type='vitkd_mm.StrictPretrained',
            checkpoint='work_dirs/vit-d48_vitkd-pretrain_fashion-mnist/'
            'student.pth',
            prefix='backbone.')))
