"""Where a routed row stands at its achieved FLOPs: against the fixed subnets' frontier (what
routing must beat) and against the oracle (the most routing can give) (docs/routing.md, "Tables").
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np

ORACLE_TOLERANCE = 1.0
"""Points of % FLOPs an oracle row may lie beyond a routed row and still be its reference."""

Point = Tuple[float, float]  # (% of the full FLOPs, metric)


def upper_frontier(points: Sequence[Point]) -> List[Point]:
    """The fixed subnets' frontier: the upper concave hull of their ``(FLOPs, metric)`` points, up
    to the best one. Two subnets sharing the patches in proportion score about the line between
    them, so a subnet below such a line (or below a cheaper subnet) is no reference for routing."""
    hull: List[Point] = []
    for point in sorted(points):
        while len(hull) >= 2 and _turn(hull[-2], hull[-1], point) >= 0:
            hull.pop()
        hull.append(point)
    best = max(range(len(hull)), key=lambda index: hull[index][1], default=-1)
    return hull[:best + 1]


def _turn(first: Point, middle: Point, last: Point) -> float:
    """Positive when ``middle`` lies below the line from ``first`` to ``last`` (x ascending)."""
    return (middle[0] - first[0]) * (last[1] - first[1]) - (middle[1] - first[1]) * (last[0] - first[0])


def interpolate(curve: Sequence[Point], flops: float, tolerance: float = 0.) -> float:
    """``curve``'s value at ``flops``, linear between its points; beyond its ends by at most
    ``tolerance`` the end's value; further out NaN."""
    xs, ys = zip(*sorted(curve))
    if flops < xs[0] - tolerance or flops > xs[-1] + tolerance:
        return float('nan')
    return float(np.interp(flops, xs, ys))


def frontier_at(points: Sequence[Point], x: float) -> float:
    """The :func:`upper_frontier` of ``points`` at ``x``, its end values beyond its ends."""
    return interpolate(upper_frontier(points), x, float('inf'))


def oracle_curve(entries: Sequence[Dict], metric: str) -> List[Point]:
    """The oracle rows' points; an oracle that spent less than its target (more FLOPs would not
    lower its error) holds its value up to the target."""
    points = [(e['flops_percent'], e[metric]) for e in entries]
    points += [(100. * e['target'], e[metric]) for e in entries if e.get('target') and 100. * e['target'] > e['flops_percent']]
    return points


def compare_rows(summary: List[Dict], metric: str) -> None:
    """Add ``vs_fixed`` (the row's ``metric`` minus the fixed frontier's, linear between fixed
    subnets) and ``vs_oracle`` (minus the oracle's of the same scope, or of any scope if that has
    none) to every routed entry of ``summary`` (entries with ``mode``, ``scope``, ``flops_percent``);
    None where there is no reference at the row's FLOPs."""
    fixed = upper_frontier([(e['flops_percent'], e[metric]) for e in summary if e['mode'] == 'fixed'])
    oracles = [e for e in summary if e['mode'] == 'oracle']
    for entry in summary:
        if entry['mode'] in ('fixed', 'whole', 'oracle'):  # the references, and one subnet on the whole image
            continue
        scoped = [e for e in oracles if e['scope'] == entry.get('scope')] or oracles
        references = {'vs_fixed': (fixed, 0.), 'vs_oracle': (oracle_curve(scoped, metric), ORACLE_TOLERANCE)}
        for key, (curve, tolerance) in references.items():
            value = interpolate(curve, entry['flops_percent'], tolerance) if curve else float('nan')
            entry[key] = None if np.isnan(value) else entry[metric] - value
