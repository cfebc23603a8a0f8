"""The Fashion-MNIST kit: ViTKD and NKD with small ViTs on real data.

- :mod:`.arms`: what is trained (teachers, arms, pretrainings, modes, the
  claims checked); adding an experiment is one config and one entry there;
- :mod:`.plan`: a mode's runs, pretrainings first, ``--jobs`` at a time;
- :mod:`.runs`: one training run in a fresh process, its record in
  ``result.json``; how many runs share the machine;
- :mod:`.teachers`: the shipped teacher, or trained once and reused;
- :mod:`.report`, :mod:`.plots`, :mod:`.alignment`: tables, JSON and plots
  from finished runs.

Command lines, from the repository root: ``python -m
tools.fashion_mnist.run_arms`` trains a mode's arms and seeds, then
reports; ``python -m tools.fashion_mnist.report`` rebuilds the report from
finished work dirs (or a results JSON) without training.
"""
