# The student alone on the 1,000 labelled images, its backbone initialised
# from the label-free pretraining (vit-d48_vitkd-pretrain_fashion-mnist.py),
# strictly, the head fresh. The kit passes each seed's export with
#   --cfg-options model.init_cfg.checkpoint=PATH
_base_ = ['./vit-d48_1k_fashion-mnist.py']

model = dict(
    init_cfg=dict(
        _delete_=True,
        type='vitkd_mm.StrictPretrained',
        checkpoint='work_dirs/vit-d48_vitkd-pretrain_fashion-mnist/'
        'student.pth',
        prefix='backbone.'))
