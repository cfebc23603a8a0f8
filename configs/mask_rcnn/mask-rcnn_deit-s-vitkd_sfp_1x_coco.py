# The backbone starts from the ViTKD-distilled DeiT-S student, exported with
# tools/model_converters/convert_to_student.py (see docs/detection.md).
_base_ = './mask-rcnn_deit-s_sfp_1x_coco.py'

custom_imports = dict(imports=['vitkd_mm'], allow_failed_imports=False)

checkpoint = 'checkpoints/deit-s_vitkd_student.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=checkpoint)))
