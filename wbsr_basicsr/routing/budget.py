"""Budget solving: Eq. 16's rule and its ``alpha`` for a FLOPs target, the boundary split that
meets a target between two allocations, and the Lagrangian allocation of a per-patch loss table
(the oracle's errors, ARM's predicted PSNR) at a target, and the greedy choice of an option per
piece under a budget of seconds (the planner's, docs/routing.md, "Plans")."""
from typing import Optional, Sequence

import numpy as np

BISECTION_STEPS = 100


def route_budget(classes: np.ndarray, num_classes: int, costs: Sequence[float], alpha: float) -> np.ndarray:
    """Eq. 16 as docs/paper_reading.md reads it: ``argmin_m |C_m - alpha (k / K) C_t|``, ``C_t = max(costs)``."""
    costs = np.asarray(costs, dtype=np.float64)
    share = np.minimum(alpha * ((np.asarray(classes) + 1) / num_classes), 1.)  # beyond C_t every class wants C_t
    return np.abs(costs[None, :] - share[:, None] * costs.max()).argmin(axis=1)


def alpha_candidates(classes: np.ndarray, num_classes: int, costs: np.ndarray) -> np.ndarray:
    """One ``alpha`` per step of Eq. 16's average cost on ``classes``, ascending. The average changes
    only where ``alpha (k / K) C_t`` crosses a midpoint between two costs."""
    levels = np.unique(np.asarray(classes) + 1) / num_classes
    midpoints = (costs[1:] + costs[:-1]) / 2 / costs.max()
    breaks = np.unique((midpoints[:, None] / levels[None, :]).ravel())
    return np.concatenate([[breaks[0] / 2], (breaks[1:] + breaks[:-1]) / 2, [breaks[-1] * 2]])


def alpha_for_target(classes: np.ndarray, num_classes: int, costs: Sequence[float], target_ratio: float,
                     weights: Optional[np.ndarray] = None) -> float:
    """The ``alpha`` of :func:`route_budget` whose average cost on ``classes`` (each counted
    ``weights`` times, default once) is closest to ``target_ratio`` x the full cost."""
    costs = _checked_costs(costs, target_ratio)
    candidates = alpha_candidates(classes, num_classes, costs)
    ratios = [np.average(costs[route_budget(classes, num_classes, costs, a)], weights=weights) / costs.max()
              for a in candidates]
    return float(candidates[int(np.argmin(np.abs(np.asarray(ratios) - target_ratio)))])


def allocate_to_target(classes: np.ndarray, scores: np.ndarray, num_classes: int, costs: Sequence[float],
                       target_ratio: float) -> np.ndarray:
    """Subnet per patch whose mean cost meets ``target_ratio`` x the full cost as closely as one
    patch's choice allows (docs/routing.md, "Budgets").

    Eq. 16's mean cost is a step function of ``alpha``. Take the Eq. 16 allocations of the steps
    just below and just above the target; of the patches they route differently, the hardest
    (highest ``scores``) take the bigger subnet, one by one, while that brings the mean closer
    to the target (the boundary split). Outside the range of Eq. 16 the nearest end is used.
    """
    costs = _checked_costs(costs, target_ratio)
    classes = np.asarray(classes)
    allocations = [route_budget(classes, num_classes, costs, a) for a in alpha_candidates(classes, num_classes, costs)]
    ratios = np.array([costs[ids].mean() / costs.max() for ids in allocations])
    below = np.flatnonzero(ratios <= target_ratio)
    lower = allocations[below[-1]] if len(below) else allocations[0]
    upper = allocations[min(len(below), len(allocations) - 1)]
    return split_to_target(lower, upper, np.asarray(scores, dtype=np.float64), costs, target_ratio)


def split_to_target(lower: np.ndarray, upper: np.ndarray, priority: np.ndarray, costs: np.ndarray,
                    target_ratio: float) -> np.ndarray:
    """The boundary split between two allocations (``lower`` cheaper than the target, ``upper``
    dearer): the patches they route differently take ``upper``'s subnet in order of ``priority``,
    highest first, as many as bring the mean cost closest to ``target_ratio`` x the full cost."""
    moved = np.flatnonzero(upper != lower)
    moved = moved[np.argsort(-priority[moved], kind='stable')]
    needed = target_ratio * costs.max() * len(lower) - costs[lower].sum()
    spent = np.concatenate([[0.], np.cumsum(costs[upper[moved]] - costs[lower[moved]])])
    count = int(np.argmin(np.abs(spent - needed)))
    allocation = lower.copy()
    allocation[moved[:count]] = upper[moved[:count]]
    return allocation


def lagrangian_allocation(losses: np.ndarray, costs: Sequence[float], target_ratio: float,
                          spend: bool = False) -> np.ndarray:
    """The subnet per patch that minimises the summed ``losses`` ``(N, M)`` at a mean cost of
    ``target_ratio`` x the full cost: per patch ``argmin_m losses + lambda C_m / C_t`` (Lagrangian
    relaxation), ``lambda`` by bisection, then the boundary split between the allocations on
    either side of the target, the patches that lose least per unit of cost first.

    If the least-loss allocation costs less than the target it is returned as it is, unless
    ``spend``: then ``lambda`` goes negative until the target is spent (the least added loss)."""
    costs = _checked_costs(costs, target_ratio, ascending=False) / max(costs)
    rows = np.arange(len(losses))

    def allocate(weight: float) -> np.ndarray:
        return np.argmin(losses + weight * costs[None, :], axis=1)

    def ratio(weight: float) -> float:
        return costs[allocate(weight)].mean()

    if ratio(0.) <= target_ratio:
        if not spend:
            return allocate(0.)
        cheap, dear = -1., 0.  # allocate(cheap) at or above the target, allocate(dear) at or below
        while ratio(cheap) < target_ratio and cheap > -1e12:
            cheap *= 2
    else:
        cheap, dear = 0., 1.
        while ratio(dear) > target_ratio and dear < 1e12:
            dear *= 2
    for _ in range(BISECTION_STEPS):
        middle = (cheap + dear) / 2
        if ratio(middle) > target_ratio:
            cheap = middle
        else:
            dear = middle
    lower, upper = allocate(dear), allocate(cheap)
    gain = (losses[rows, lower] - losses[rows, upper]) / np.maximum(costs[upper] - costs[lower], 1e-12)
    return split_to_target(lower, upper, gain, costs, target_ratio)


def _checked_costs(costs: Sequence[float], target_ratio: float, ascending: bool = True) -> np.ndarray:
    """``costs`` as floats; ``ValueError`` for a target outside (0, 1], or costs out of ascending order
    where the rule climbs them in order (Eq. 16)."""
    if not 0 < target_ratio <= 1:
        raise ValueError(f'A FLOPs target must lie in (0, 1], got {target_ratio}.')
    costs = np.asarray(costs, dtype=np.float64)
    if ascending and np.any(np.diff(costs) < 0):
        raise ValueError('costs must be in ascending order, as the supernet lists its subnets.')
    return costs


def greedy_choice(values: np.ndarray, costs: np.ndarray, budget: float) -> np.ndarray:
    """The option of every piece (``values``, ``costs``: ``(P, M)``) that spends at most ``budget`` in
    all: every piece starts at its cheapest option, then the upgrades along each piece's upper convex
    hull of (cost, value) are taken by value gained per cost, as long as they fit (the greedy
    solution of the multiple-choice knapsack; exact up to the last upgrade taken)."""
    hulls = [_hull(v, c) for v, c in zip(values, costs)]
    ids = np.array([hull[0] for hull in hulls], dtype=np.int64)
    steps = [(piece, later, costs[piece, later] - costs[piece, earlier], values[piece, later] - values[piece, earlier])
             for piece, hull in enumerate(hulls) for earlier, later in zip(hull, hull[1:])]
    spent = float(costs[np.arange(len(ids)), ids].sum())
    blocked = np.zeros(len(ids), dtype=bool)
    slopes = np.array([gain / max(cost, 1e-12) for _, _, cost, gain in steps])
    for step in np.argsort(-slopes, kind='stable'):
        piece, later, cost, _ = steps[step]
        if blocked[piece]:
            continue
        if spent + cost > budget:
            blocked[piece] = True  # its later upgrades build on this one
            continue
        ids[piece], spent = later, spent + cost
    return _filled(values, costs, ids, budget - spent)


def _filled(values: np.ndarray, costs: np.ndarray, ids: np.ndarray, left: float) -> np.ndarray:
    """``ids`` with what is ``left`` of the budget spent on options off the hull: piece by piece, by the
    gain per cost of its best option that fits, the best option that still fits."""
    rows = np.arange(len(ids))
    extra = costs - costs[rows, ids][:, None]
    gain = values - values[rows, ids][:, None]
    usable = (gain > 0) & (extra <= left)
    slopes = np.where(usable, gain / np.maximum(extra, 1e-12), -np.inf).max(1)
    for piece in np.argsort(-slopes, kind='stable'):
        fits = np.flatnonzero((gain[piece] > 0) & (extra[piece] <= left))
        if not np.isfinite(slopes[piece]) or not len(fits):
            continue
        best = fits[np.argmax(gain[piece, fits])]
        ids[piece], left = best, left - extra[piece, best]
    return ids


def _hull(values: np.ndarray, costs: np.ndarray) -> list:
    """The options on the upper convex hull of ``(costs, values)``, from the cheapest (the best of the
    cheapest, on ties) up to the best, cost ascending, each gaining less per cost than the one before."""
    order = np.lexsort((-values, costs))
    hull = [int(order[0])]
    for option in order[1:]:
        if values[option] <= values[hull[-1]]:
            continue
        while len(hull) > 1 and _slope(values, costs, hull[-2], hull[-1]) <= _slope(values, costs, hull[-1], option):
            hull.pop()
        hull.append(int(option))
    return hull


def _slope(values: np.ndarray, costs: np.ndarray, a: int, b: int) -> float:
    return (values[b] - values[a]) / max(costs[b] - costs[a], 1e-12)
