"""The user commands, installed as console scripts (``setup.py``): ``wbsr-infer``, ``wbsr-calibrate``,
``wbsr-export``, ``wbsr-plot-frontier``. The files ``inference/inference_wbsr.py`` and
``scripts/*.py`` of a checkout run the same ``main``."""
