"""Routing: which subnet of the supernet each LR patch runs (paper Sec. 4.2).

Every ``*_router.py`` file here is imported and registers its routers under their row ``mode``
(:mod:`.base`: the interface and the registry):

- :mod:`.gradient_router`: the paper's router, Eq. 7 classes by gradient projection, Eq. 15 / 16
  (``ceil``, ``budget``, ``target_flops``);
- :mod:`.arm_router`: ARM's edge-score router (``arm``), Table 1's "+ARM" row;
- :mod:`.classsr_router`: ClassSR's classifier (``classifier``), Table 1's "+ClassSR" row;
- :mod:`.oracle_router`: the least-error allocation (``oracle``, analysis; needs GT);
- :mod:`.fixed_router`, :mod:`.whole_router`: one subnet on every patch / on the whole image.

Beside them: :mod:`.budget` (the budget solvers), :mod:`.scopes` (the groups a budget holds over),
:mod:`.calibration` (a supernet's calibration: ARM's table, the Pareto ladder) and :mod:`.frontier`
(a routed row against the fixed subnets' frontier and the oracle). What runs a routing (chop,
batched run, merge) is the runner, :mod:`wbsr_basicsr.runtime`, under the engine, :mod:`wbsr_basicsr.inference`.
"""
from wbsr_basicsr.registration import import_components

from .base import ROUTER_REGISTRY, Router, RoutingData, check_routing, register_router, router_class  # noqa: F401

_modules = import_components(__name__, __file__, '_router')
