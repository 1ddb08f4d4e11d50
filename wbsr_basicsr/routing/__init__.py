"""Routing: which subnet of the supernet each LR patch runs (paper Sec. 4.2).

- :mod:`.gradient_router`: the paper's router, Eq. 7 classes by gradient projection, Eq. 15 / 16;
- :mod:`.budget`: budget solving: Eq. 16's ``alpha`` for a FLOPs target, the boundary split,
  the Lagrangian allocation of a per-patch loss table;
- :mod:`.arm_router`: ARM's edge-score router, for Table 1's "+ARM" row;
- :mod:`.classsr_router`: ClassSR's classifier as a router, for Table 1's "+ClassSR" row;
- :mod:`.oracle`: each patch's error under every subnet, for the routing oracle;
- :mod:`.calibration`: a trained supernet's calibration (ARM's table, the Pareto ladder);
- :mod:`.frontier`: a routed row against the fixed subnets' frontier and the oracle.

The patch machinery that runs a routing (chop, batched run, merge) is apart, in
:mod:`wbsr_basicsr.models.patches`.
"""
