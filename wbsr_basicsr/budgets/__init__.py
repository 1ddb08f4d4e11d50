"""Budget units: what a row's ``target`` counts (docs/routing.md, "Budgets"). Every ``*_budget.py`` file
here is imported and registers its unit in :data:`~.base.BUDGET_UNITS` under the name rows give as
``unit`` (:mod:`.base`: the interface): ``patch_flops`` (the paper's), ``image_flops``, ``time``.
"""
from wbsr_basicsr.registration import import_components

from .base import BUDGET_UNITS, DEFAULT_BUDGET_UNIT, BudgetUnit, WholeImage, register_budget_unit  # noqa: F401

_modules = import_components(__name__, __file__, '_budget')
