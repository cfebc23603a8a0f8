_base_ = ['mmpretrain::_base_/default_runtime.py']

custom_imports = dict(imports=['vitkd_mm'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1),
)
# A --resume after a change of the distiller is refused with what changed
# (a no-op for the teachers and the student alone, which have none).
custom_hooks = [dict(type='vitkd_mm.DistillerResumeCheckHook')]
# The reproduction script sets the seed of each run.
randomness = dict(seed=0, deterministic=False)
