"""Routing: which subnet of the supernet each LR patch runs (paper Sec. 4.2).

- :mod:`.gradient_router`: the paper's router, Eq. 7 classes by gradient projection, Eq. 15 / 16;
- :mod:`.budget`: the Eq. 16 ``alpha`` that meets a FLOPs target.

The patch machinery that runs a routing (chop, batched run, merge) is apart, in
:mod:`wbsr_basicsr.models.patches`.
"""
