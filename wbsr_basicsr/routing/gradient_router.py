"""The paper's router: gradient projection (Sec. 4.2, Eq. 7, 15 and 16).

A patch's difficulty score (the sum of its gradient vector, :mod:`wbsr_basicsr.utils.gradient_stats`)
falls in one of K classes by the quantile thresholds of the training patches (Eq. 7). Class
``k`` (1..K) goes to a subnet of the M subnets ordered by cost:

- ``ceil`` (Eq. 15): ``m = ceil(k M / K)``;
- ``budget`` (Eq. 16, as docs/paper_reading.md reads it): ``m = argmin_m |C_m - alpha (k / K) C_t|``,
  with ``C_t`` the full network's cost.

:class:`Router` holds what this needs (thresholds, the training patches' class counts, patch
size and stride) and travels in WBSR checkpoints.
"""
from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

import numpy as np
from torch import Tensor

from wbsr_basicsr.utils.gradient_stats import (assign_classes, class_thresholds, difficulty_scores,
                                               patch_gradient_vectors)

from .budget import alpha_for_target


def route_ceil(classes: np.ndarray, num_classes: int, num_subnets: int) -> np.ndarray:
    """Eq. 15: class index ``c`` (0-based, ``k = c + 1``) -> subnet ``ceil(k M / K) - 1`` (0-based)."""
    k = np.asarray(classes) + 1
    return -(-k * num_subnets // num_classes) - 1


@dataclass(frozen=True)
class Router:
    """Eq. 7 classes of LR patches and their subnets (Eq. 15 / 16), fixed by the training data.

    ``thresholds`` are the K - 1 quantile thresholds of the training patches' difficulty scores,
    ``class_counts`` how many training patches fell in each class (the calibration set of
    ``target_flops``), for patches of ``patch_size`` chopped every ``stride`` pixels.
    """

    thresholds: Tuple[float, ...]
    class_counts: Tuple[int, ...]
    patch_size: int
    stride: int

    def __post_init__(self) -> None:
        if len(self.class_counts) != len(self.thresholds) + 1 or len(self.class_counts) < 2:
            raise ValueError(f'A router needs K >= 2 class counts and K - 1 thresholds, got '
                             f'{len(self.class_counts)} and {len(self.thresholds)}.')
        if not 3 <= self.patch_size or not 0 < self.stride <= self.patch_size:
            raise ValueError(f'Router patch_size {self.patch_size} / stride {self.stride} are not usable.')

    @classmethod
    def from_scores(cls, scores: np.ndarray, num_classes: int, patch_size: int, stride: int) -> 'Router':
        """Thresholds and class counts of training patch ``scores`` (Eq. 7)."""
        thresholds = class_thresholds(scores, num_classes)
        counts = np.bincount(assign_classes(scores, thresholds), minlength=num_classes)
        return cls(tuple(float(t) for t in thresholds), tuple(int(c) for c in counts), patch_size, stride)

    @classmethod
    def from_dict(cls, state: Dict) -> 'Router':
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
