"""Eq. 16's budget rule and budget solving: the ``alpha`` that meets a FLOPs target on a set of
patch classes."""
from typing import Optional, Sequence

import numpy as np


def route_budget(classes: np.ndarray, num_classes: int, costs: Sequence[float], alpha: float) -> np.ndarray:
    """Eq. 16 as docs/paper_reading.md reads it: ``argmin_m |C_m - alpha (k / K) C_t|``, ``C_t = max(costs)``."""
    costs = np.asarray(costs, dtype=np.float64)
    wanted = alpha * (np.asarray(classes) + 1) / num_classes * costs.max()
    return np.abs(costs[None, :] - wanted[:, None]).argmin(axis=1)


def alpha_for_target(classes: np.ndarray, num_classes: int, costs: Sequence[float], target_ratio: float,
                     weights: Optional[np.ndarray] = None) -> float:
    """The ``alpha`` of :func:`route_budget` whose average cost on ``classes`` (each counted
    ``weights`` times, default once) is closest to ``target_ratio`` x the full cost. The average
    is a step function of ``alpha`` that changes only where ``alpha (k / K) C_t`` crosses a
    midpoint between two costs; one candidate per step is checked."""
    if not 0 < target_ratio <= 1:
        raise ValueError(f'target_flops must lie in (0, 1], got {target_ratio}.')
    costs = np.asarray(costs, dtype=np.float64)
    if np.any(np.diff(costs) < 0):
        raise ValueError('costs must be in ascending order, as the supernet lists its subnets.')
    levels = np.unique(np.asarray(classes) + 1) / num_classes
    midpoints = (costs[1:] + costs[:-1]) / 2 / costs.max()
    breaks = np.unique((midpoints[:, None] / levels[None, :]).ravel())
    candidates = np.concatenate([[breaks[0] / 2], (breaks[1:] + breaks[:-1]) / 2, [breaks[-1] * 2]])
    ratios = [np.average(costs[route_budget(classes, num_classes, costs, a)], weights=weights) / costs.max()
              for a in candidates]
    return float(candidates[int(np.argmin(np.abs(np.asarray(ratios) - target_ratio)))])
