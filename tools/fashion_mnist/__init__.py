"""The Fashion-MNIST kit: ViTKD and NKD with small ViTs on real data.

- :mod:`.arms`: what is trained (teachers, arms, modes, the claims checked);
- :mod:`.runs`: one training run (a ``tools/train.py`` subprocess writing
  ``result.json``), the teacher, how many runs share the machine;
- :mod:`.report`: tables, JSON and plots from finished runs.

Command lines: ``tools/fashion_mnist/run_arms.py`` trains a mode's arms and
seeds, then reports; ``tools/fashion_mnist/report.py`` rebuilds the report
from finished work dirs (or a results JSON) without training.
"""
