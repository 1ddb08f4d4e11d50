"""The inference engine: routed rows run on LR images (paper Sec. 4.2, Fig. 2b).

Between the routers (:mod:`wbsr_basicsr.routing`, which decide) and the BasicSR models
(:mod:`wbsr_basicsr.models`, which train and validate):

- :mod:`.patches`: chop an LR image into patches, merge SR patches;
- :mod:`.engine`: :class:`~.engine.Engine`, one supernet and its routing running rows on images;
- :mod:`.rows`: rows from options (``val.rows``), by the routers' ``mode``;
- :mod:`.checkpoint`: the checkpoint's typed ``wbsr`` entry and the one rule that reads routing from it;
- :mod:`.calibrate`: measuring a routing calibration;
- :mod:`.evaluation`: validation and ``test.py``: every row on a set, its table and JSON (:mod:`.report`);
- :mod:`.upscaler`: what the inference command runs.
"""
