"""What a target counts (docs/routing.md, "Budgets"): one class per ``unit`` of a row held to a
target, registered in :data:`BUDGET_UNITS` under its name, as routers are by ``mode``.

A budget unit owns how its target reaches the routers (each subnet's cost per patch and the
target as a ratio of the full network's cost on the patches), how an allocation is fitted to it,
what may run instead of routing on one image, the predicted share it reports, and which share of
the full network an image's result spent (for the command's "over the budget"). The engine
(:mod:`wbsr_basicsr.inference.engine`) is passed in; nothing here runs a network.

- ``patch_flops``: the paper's convention, the mean FLOPs per patch against the full network on
  the same patches;
- ``image_flops``: every FLOP run on the image, overlapping patches included, against the full
  network on the whole image;
- ``time``: the predicted seconds against the full network's on the whole image, by the time
  profile (:mod:`wbsr_basicsr.inference.time_budget`), with its fall-back to one subnet on the
  whole image.
"""
from dataclasses import dataclass
from typing import Callable, ClassVar, Dict, Optional, Sequence, Tuple, Type

import numpy as np
from torch import Tensor

from .calibration import Calibration
from .timing import TimeProfile

Allocate = Callable[[float], np.ndarray]
"""The row's allocation of a group at a target (a ratio of the full network's cost on its patches)."""


@dataclass(frozen=True)
class WholeImage:
    """Instead of routing one image: subnet ``index`` on the whole image (``unmeasured``: the image is
    too small for the unit to predict its cost)."""

    index: int
    unmeasured: bool = False


class BudgetUnit:
    """A unit of budgets; by default it counts as ``patch_flops`` does (the others override what differs)."""

    name: ClassVar[str] = ''
    needs: ClassVar[Tuple[type, ...]] = ()
    """The :class:`wbsr_basicsr.routing.base.RoutingData` types its budgets need."""

    @property
    def label_suffix(self) -> str:
        """What a row's label adds for this unit (nothing for the paper's)."""
        return '' if self.name == DEFAULT_BUDGET_UNIT else '_' + self.name.replace('_', '')

    def patch_budget(self, engine, target: float, layouts: Sequence) -> Tuple[np.ndarray, float]:
        """Each subnet's cost per patch and ``target`` as the routers take it, over the images of ``layouts``."""
        return engine.costs, target

    def fitted(self, engine, target: float, layouts: Sequence, patch_target: float, allocate: Allocate) -> np.ndarray:
        """The allocation of the images of ``layouts`` at ``patch_target``, held to ``target``."""
        return allocate(patch_target)

    def before_routing(self, engine, target: float, layout) -> Optional[WholeImage]:
        """What runs instead of routing one image, decided before its patches are measured."""
        return None

    def after_routing(self, engine, target: float, layout, ids: np.ndarray, patches: Tensor) -> Optional[WholeImage]:
        """What runs instead of the routing ``ids`` of one image."""
        return None

    def share(self, engine, layout, ids: Optional[np.ndarray] = None, whole: Optional[int] = None) -> Optional[float]:
        """The predicted share of the full network one image's result spends (None: not predicted)."""
        return None

    def spent(self, result) -> float:
        """The share of the full network one image's result (:class:`~wbsr_basicsr.inference.upscaler.Upscaled`)
        spent, in this unit."""
        return result.flops_percent / 100


DEFAULT_BUDGET_UNIT = 'patch_flops'
BUDGET_UNITS: Dict[str, BudgetUnit] = {}


def register_budget_unit(cls: Type[BudgetUnit]) -> Type[BudgetUnit]:
    """Class decorator: register an instance of ``cls`` under its ``name``."""
    if not cls.name or cls.name in BUDGET_UNITS:
        raise KeyError(f'Budget unit {cls.name!r} is empty or registered already.')
    BUDGET_UNITS[cls.name] = cls()
    return cls


@register_budget_unit
class PatchFlops(BudgetUnit):
    name = DEFAULT_BUDGET_UNIT


@register_budget_unit
class ImageFlops(BudgetUnit):
    name = 'image_flops'

    def patch_budget(self, engine, target: float, layouts: Sequence) -> Tuple[np.ndarray, float]:
        """The ratio that spends ``target`` of the full network's FLOPs on the whole images, no less than
        the cheapest subnet's share."""
        whole = sum(engine.net.flops(None, (layout.height, layout.width)) for layout in layouts)
        patches = sum(layout.count for layout in layouts)
        costs = engine.costs
        return costs, float(min(1., max(costs.min() / costs[-1], target * whole / (patches * costs[-1]))))

    def spent(self, result) -> float:
        return result.honest_percent / 100


@register_budget_unit
class Time(BudgetUnit):
    name = 'time'
    needs = (TimeProfile,)

    def patch_budget(self, engine, target: float, layouts: Sequence) -> Tuple[np.ndarray, float]:
        budget = engine.time_budget
        return budget.costs, budget.patch_target(target, layouts)

    def fitted(self, engine, target: float, layouts: Sequence, patch_target: float, allocate: Allocate) -> np.ndarray:
        return engine.time_budget.fitted(target, layouts, patch_target, allocate)

    def before_routing(self, engine, target: float, layout) -> Optional[WholeImage]:
        """On an image smaller than the profile timed, or one whose fastest routing exceeds the budget."""
        budget = engine.time_budget
        if budget.unmeasured(layout):
            return WholeImage(budget.small_image_choice(target, layout), unmeasured=True)
        index = budget.unaffordable(target, layout)
        return None if index is None else WholeImage(index)

    def after_routing(self, engine, target: float, layout, ids: np.ndarray, patches: Tensor) -> Optional[WholeImage]:
        """Where one subnet on the whole image is predicted to do at least as well in the budget."""
        index = engine.time_budget.alternative(target, layout, ids, lambda: engine.data.get(Calibration).predict(patches))
        return None if index is None else WholeImage(index)

    def share(self, engine, layout, ids: Optional[np.ndarray] = None, whole: Optional[int] = None) -> Optional[float]:
        return engine.time_budget.share(layout, ids, -1 if whole is None else whole)

    def spent(self, result) -> Optional[float]:
        return result.time_share
