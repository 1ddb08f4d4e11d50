"""The paper's router: gradient projection (Sec. 4.2, Eq. 7, 15 and 16).

A patch's difficulty score (the sum of its gradient vector, :mod:`wbsr_basicsr.utils.gradient_stats`)
falls in one of K classes by the quantile thresholds of the training patches (Eq. 7,
:class:`DifficultyClasses`, which travel in WBSR checkpoints). Class ``k`` (1..K) goes to a
subnet of a ladder of M subnets ordered by cost:

- ``ceil`` (Eq. 15): ``m = ceil(k M / K)``;
- ``budget`` (Eq. 16, as docs/paper_reading.md reads it): ``m = argmin_m |C_m - alpha (k / K) C_t|``,
  with ``C_t`` the full network's cost;
- ``target_flops``: Eq. 16 held to a ratio of the full FLOPs with the boundary split
  (:func:`.budget.allocate_to_target`), or with the ``alpha`` calibrated on the training patches
  (scope ``train``, the paper's reading).

The ladder is every subnet in cost order (``full``, the paper's) or the calibrated Pareto ladder
(``pareto``, :meth:`.calibration.Calibration.pareto_ladder`).
"""
from dataclasses import dataclass
from typing import ClassVar, Dict, List, Optional, Sequence, Tuple

import numpy as np
from torch import Tensor

from wbsr_basicsr.archs.slimmable import SlimmableSupernet
from wbsr_basicsr.utils.gradient_stats import (assign_classes, class_thresholds, difficulty_scores,
                                               patch_gradient_vectors)

from .base import Group, BudgetedRouter, Features, PatchRunner, Router, RoutingData, register_router
from .budget import alpha_for_target, allocate_to_target, route_budget
from .calibration import Calibration

LADDERS = ('full', 'pareto')


def route_ceil(classes: np.ndarray, num_classes: int, num_subnets: int) -> np.ndarray:
    """Eq. 15: class index ``c`` (0-based, ``k = c + 1``) -> subnet ``ceil(k M / K) - 1`` (0-based)."""
    k = np.asarray(classes) + 1
    return -(-k * num_subnets // num_classes) - 1


@dataclass(frozen=True)
class DifficultyClasses:
    """Eq. 7 classes of LR patches, fixed by the training data.

    ``thresholds`` are the K - 1 quantile thresholds of the training patches' difficulty scores,
    ``class_counts`` how many training patches fell in each class (what scope ``train`` calibrates
    on), for patches of ``patch_size`` chopped every ``stride`` pixels.
    """

    thresholds: Tuple[float, ...]
    class_counts: Tuple[int, ...]
    patch_size: int
    stride: int
    provide: ClassVar[str] = ('routing thresholds: set routing.stats_file (made by datasets_prep/prepare_div2k.py) or '
                              'load a WBSR checkpoint, which carries them')

    def __post_init__(self) -> None:
        if len(self.class_counts) != len(self.thresholds) + 1 or len(self.class_counts) < 2:
            raise ValueError(f'Routing thresholds need K >= 2 class counts and K - 1 thresholds, got '
                             f'{len(self.class_counts)} and {len(self.thresholds)}.')
        if not 3 <= self.patch_size or not 0 < self.stride <= self.patch_size:
            raise ValueError(f'Routing patch_size {self.patch_size} / stride {self.stride} are not usable.')

    @classmethod
    def from_scores(cls, scores: np.ndarray, num_classes: int, patch_size: int, stride: int) -> 'DifficultyClasses':
        """Thresholds and class counts of training patch ``scores`` (Eq. 7)."""
        thresholds = class_thresholds(scores, num_classes)
        counts = np.bincount(assign_classes(scores, thresholds), minlength=num_classes)
        return cls(tuple(float(t) for t in thresholds), tuple(int(c) for c in counts), patch_size, stride)

    @classmethod
    def from_dict(cls, state: Dict) -> 'DifficultyClasses':
        return cls(tuple(state['thresholds']), tuple(state['class_counts']), int(state['patch_size']),
                   int(state['stride']))

    def to_dict(self) -> Dict:
        return dict(thresholds=list(self.thresholds), class_counts=list(self.class_counts),
                    patch_size=self.patch_size, stride=self.stride)

    @property
    def num_classes(self) -> int:
        return len(self.class_counts)

    def scores_and_classes(self, patches: Tensor) -> Tuple[np.ndarray, np.ndarray]:
        """The difficulty score and the Eq. 7 class (0-based) of every ``(N, C, P, P)`` patch in [0, 1]."""
        scores = difficulty_scores(patch_gradient_vectors(patches)).cpu().numpy()
        return scores, assign_classes(scores, self.thresholds)

    def alpha_for_target(self, costs: Sequence[float], target_ratio: float) -> float:
        """Eq. 16's ``alpha`` that makes the training patches' average cost ``target_ratio`` x ``C_t``
        (each class weighted by its count, not one entry per training patch)."""
        present = np.flatnonzero(np.asarray(self.class_counts))
        return alpha_for_target(present, self.num_classes, costs, target_ratio,
                                weights=np.asarray(self.class_counts)[present])

    def flops(self, channels: int = 3) -> int:
        """FLOPs of scoring one patch as ``sobel_magnitudes`` and ``patch_gradient_vectors`` do it:
        the luma (5 per pixel for RGB), the central differences (1 per element), and per element
        of each of the 2 Sobel maps the (1, 2, 1) smoothing (3), the absolute value (1) and the
        two-pass mean and standard deviation (4)."""
        size, interior = self.patch_size, self.patch_size - 2
        luma = 5 * size * size if channels == 3 else 0
        return luma + 2 * size * interior + 2 * 8 * interior * interior


def ladder_indices(ladder: str, data: RoutingData, costs: np.ndarray) -> np.ndarray:
    """The subnet indices a ``ladder`` climbs, cheapest first by ``costs`` (FLOPs or seconds per
    patch), topped by the full network: every subnet cheaper than it (``full``), or those of them
    whose calibration PSNR beats every cheaper one's (``pareto``)."""
    if ladder == 'pareto':
        return np.asarray(data.get(Calibration).pareto_ladder(costs))
    full = len(costs) - 1
    cheaper = [index for index in np.argsort(costs, kind='stable') if costs[index] < costs[full]]
    return np.asarray(cheaper + [full])


@dataclass(frozen=True)
class GradientRouter(Router):
    """What the gradient router's rows share: the difficulty classes, and a ``ladder`` of subnets."""

    ladder: Optional[str] = None
    feature: ClassVar[str] = 'difficulty'

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ladder is None:
            object.__setattr__(self, 'ladder', 'full')
        if self.ladder not in LADDERS:
            raise ValueError(f'ladder must be one of {LADDERS}, got {self.ladder!r}.')

    @classmethod
    def from_options(cls, spec: Dict, net: SlimmableSupernet, ladder: str) -> List[Router]:
        return super().from_options(dict({'ladder': ladder}, **spec), net, ladder)

    @property
    def label(self) -> str:
        return self.name if self.ladder == 'full' else f'{self.name}_{self.ladder}'

    @property
    def name(self) -> str:
        """The label on the paper's ladder."""
        return super().label

    def needs(self) -> Tuple[type, ...]:
        return (DifficultyClasses, Calibration) if self.ladder == 'pareto' else (DifficultyClasses,)

    def measure(self, patches: Tensor, gt: Optional[Tensor], data: RoutingData, runner: PatchRunner) -> Features:
        scores, classes = data.get(DifficultyClasses).scores_and_classes(patches)
        return {'scores': scores, 'classes': classes}

    def allocate(self, group: Group, data: RoutingData) -> np.ndarray:
        ladder = ladder_indices(self.ladder, data, group.costs)
        return ladder[self.climb(group.features, group.costs[ladder], group.target, data.get(DifficultyClasses))]

    def climb(self, features: Features, costs: np.ndarray, target: Optional[float],
              thresholds: DifficultyClasses) -> np.ndarray:
        """Indices into a ladder of subnets with ``costs``, topped by the full network (``C_t``)."""
        raise NotImplementedError

    def flops(self, data: RoutingData, patch_size: int, channels: int) -> float:
        return float(data.get(DifficultyClasses).flops(channels))


@register_router
@dataclass(frozen=True)
class CeilRouter(GradientRouter):
    """Eq. 15: ``{mode: ceil}``."""

    mode: ClassVar[str] = 'ceil'

    def climb(self, features: Features, costs: np.ndarray, target: Optional[float],
              thresholds: DifficultyClasses) -> np.ndarray:
        return route_ceil(features['classes'], thresholds.num_classes, len(costs))


@register_router
@dataclass(frozen=True)
class BudgetRouter(GradientRouter):
    """Eq. 16 with a given ``alpha``: ``{mode: budget, alpha: A}``."""

    alpha: Optional[float] = None
    mode: ClassVar[str] = 'budget'

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.alpha is None:
            raise ValueError("Inference mode 'budget' takes alpha (Eq. 16), e.g. {mode: budget, alpha: 1.0}.")
        if not 0 < self.alpha < float('inf'):
            raise ValueError(f'budget alpha must be positive and finite, got {self.alpha}.')

    @property
    def name(self) -> str:
        return f'budget_{self.alpha:g}'

    def climb(self, features: Features, costs: np.ndarray, target: Optional[float],
              thresholds: DifficultyClasses) -> np.ndarray:
        return route_budget(features['classes'], thresholds.num_classes, costs, self.alpha)


@register_router
@dataclass(frozen=True)
class TargetFlopsRouter(GradientRouter, BudgetedRouter):
    """Eq. 16 held to a FLOPs target: ``{mode: target_flops, target: R[, scope: image|dataset|train]}``."""

    mode: ClassVar[str] = 'target_flops'
    title: ClassVar[str] = 'WBSR'
    label_name: ClassVar[str] = 'target'
    own_scopes: ClassVar[Tuple[str, ...]] = ('train',)

    def climb(self, features: Features, costs: np.ndarray, target: Optional[float],
              thresholds: DifficultyClasses) -> np.ndarray:
        classes = features['classes']
        if self.scope == 'train':
            return route_budget(classes, thresholds.num_classes, costs, thresholds.alpha_for_target(costs, target))
        return allocate_to_target(classes, features['scores'], thresholds.num_classes, costs, target)
