# The backbone starts from the ViTKD-distilled DeiT-T student, exported with
# tools/model_converters/convert_to_student.py (see docs/detection.md).
_base_ = './mask-rcnn_deit-t_sfp_ms-poly-3x_coco.py'

custom_imports = dict(imports=['vitkd_mm'], allow_failed_imports=False)

checkpoint = 'checkpoints/deit-t_vitkd_student.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=checkpoint)))
