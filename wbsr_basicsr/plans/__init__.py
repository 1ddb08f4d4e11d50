"""Plans of time budgets: what each subnet runs on and which allocation the budget buys.

- :mod:`.base`: the routing unit interface and its registry; every ``*_unit.py`` file here is
  imported and registers its unit (:mod:`.image_unit`, :mod:`.tile_unit`, :mod:`.patch_unit`);
- :mod:`.planner`: prices every unit of an image (or a folder) and keeps the best predicted at the
  budget;
- :mod:`.plan_row`: the ``plan`` row that asks for it (``--target-time``, ``{mode: plan}`` in
  ``val.rows``), registered with the routers.

They run on the runner (:mod:`wbsr_basicsr.runtime.runner`) they are handed.
"""
from wbsr_basicsr.registration import import_components

from . import plan_row  # noqa: F401  (registers the plan row's mode)
from .base import UNIT_REGISTRY, RoutingUnit, register_unit, unit_of, units_of  # noqa: F401

_modules = import_components(__name__, __file__, '_unit')
