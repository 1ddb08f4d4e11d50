"""The plan row: a time budget as a row of ``val.rows`` and of ``--target-time`` (docs/routing.md, "Plans").

``{mode: plan, target: R[, scope: image|dataset][, units: [image, tile160, patch]]}`` spends ``R`` x
the full network's predicted seconds on every image (or over the set) on the plan the
:class:`~.planner.Planner` predicts best among the ``units``. It routes no patch: it exists so that a
time budget is asked for, labelled, checked and reported as every other row is (the router
registry holds the rows' modes and options); the engine hands it to its planner
(:attr:`~wbsr_basicsr.routing.base.Router.planned`).
"""
from dataclasses import dataclass
from typing import ClassVar, Optional, Tuple

from wbsr_basicsr.routing.base import BudgetedRouter, register_router

from .base import units_of

DEFAULT_UNITS = ('image', 'tile160')
"""The units a plan row weighs unless it names its own: the paper's patches never paid on this CPU
(docs/results.md, "Plans: adaptive inference on the clock")."""


@register_router
@dataclass(frozen=True)
class PlanRouter(BudgetedRouter):
    units: Optional[Tuple[str, ...]] = None
    closed_loop: bool = True
    """False: plans from the time profile alone, not corrected by what the run measures (outputs then
    do not depend on the machine's timing; docs/routing.md, "Plans")."""

    mode: ClassVar[str] = 'plan'
    planned: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.budget_unit not in (None, 'time'):
            raise ValueError(f'plan rows count time; budget_unit {self.budget_unit!r} is not theirs.')
        object.__setattr__(self, 'budget_unit', 'time')
        super().__post_init__()
        units = DEFAULT_UNITS if self.units is None else tuple(self.units)
        units_of(units)  # every name known
        object.__setattr__(self, 'units', units)

    @property
    def label(self) -> str:
        units = '' if self.units == DEFAULT_UNITS else '_' + '+'.join(self.units)
        return f'plan_{self.target:g}_{self.scope}{units}{"" if self.closed_loop else "_open"}'
