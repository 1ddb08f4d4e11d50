"""What a target counts (docs/routing.md, "Budgets"): one class per ``unit`` of a row held to a
target, registered in :data:`BUDGET_UNITS` under its name, as routers are by ``mode``.

A budget unit owns how its target reaches the routers (each subnet's cost per patch and the
target as a ratio of the full network's cost on the patches), how an allocation is fitted to it,
what may run instead of routing on one image, the predicted share it reports, and which share of
the full network an image's result spent (for the command's "over the budget"). It is handed the
runner (:class:`wbsr_basicsr.runtime.runner.Runner`) for costs and predicted seconds; nothing here
runs a network. A new unit is one file ``budgets/<name>_budget.py`` holding a subclass decorated with
:func:`register_budget_unit`.
"""
from dataclasses import dataclass
from typing import Callable, ClassVar, Dict, Optional, Protocol, Sequence, Tuple, Type

import numpy as np
from torch import Tensor

from wbsr_basicsr.runtime.patches import PatchLayout
from wbsr_basicsr.runtime.runner import Runner


class Quality(Protocol):
    """What a supernet's calibration (:class:`wbsr_basicsr.routing.calibration.Calibration`) predicts."""

    mean_psnr: Sequence[float]  # per subnet, over the calibration's patches

    def predict(self, patches: Tensor) -> np.ndarray:
        """``(N, M)``: each subnet's predicted PSNR on each of ``patches``."""


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

    def patch_budget(self, runner: Runner, target: float, layouts: Sequence[PatchLayout]) -> Tuple[np.ndarray, float]:
        """Each subnet's cost per patch and ``target`` as the routers take it, over the images of ``layouts``."""
        return runner.costs, target

    def fitted(self, runner: Runner, target: float, layouts: Sequence[PatchLayout], patch_target: float,
               allocate: Allocate) -> np.ndarray:
        """The allocation of the images of ``layouts`` at ``patch_target``, held to ``target``."""
        return allocate(patch_target)

    def before_routing(self, runner: Runner, target: float, layout: PatchLayout,
                       calibration: Optional[Quality]) -> Optional[WholeImage]:
        """What runs instead of routing one image, decided before its patches are measured."""
        return None

    def after_routing(self, runner: Runner, target: float, layout: PatchLayout, ids: np.ndarray, patches: Tensor,
                      calibration: Optional[Quality]) -> Optional[WholeImage]:
        """What runs instead of the routing ``ids`` of one image's ``patches``."""
        return None

    def share(self, runner: Runner, layout: PatchLayout, ids: Optional[np.ndarray] = None,
              whole: Optional[int] = None) -> Optional[float]:
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
