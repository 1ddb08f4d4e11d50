"""``patch_flops``, the paper's convention: the mean FLOPs per patch against the full network on the
same patches (what :class:`~.base.BudgetUnit` does by default)."""
from .base import DEFAULT_BUDGET_UNIT, BudgetUnit, register_budget_unit


@register_budget_unit
class PatchFlops(BudgetUnit):
    name = DEFAULT_BUDGET_UNIT
