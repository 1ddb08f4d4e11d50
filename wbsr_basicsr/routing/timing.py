"""Time profiles: what one supernet's subnets cost in seconds on one device, for budgets in time.

A :class:`TimeProfile` is measured by :func:`wbsr_basicsr.inference.timing.measure_time_profile`
(``scripts/calibrate_routing.py`` stores one per device in the checkpoint) and predicts

- a routed image's seconds: per batch of ``b`` patches of subnet ``m``, ``call[m] + b * patch[m]``,
  plus ``overhead`` per patch (chop, scoring, merge);
- a whole image's seconds under subnet ``m``, piecewise linear in its LR pixels between the
  measured sizes (extrapolated along the last piece).

A row with ``unit: time`` spends ``target`` x the full network's predicted seconds on the whole
image (docs/routing.md, "Budgets in time").
"""
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np


@dataclass(frozen=True)
class TimeProfile:
    """Seconds of each subnet (in the supernet's order) on ``device``, for ``patch_size`` patches."""

    device: str
    patch_size: int
    call: Tuple[float, ...]  # per forward of a batch of patches
    patch: Tuple[float, ...]  # per patch in a batch
    overhead: float  # per patch: chop, scoring and merge
    pixels: Tuple[int, ...]  # the whole-image sizes measured, in LR pixels, ascending
    whole: Tuple[Tuple[float, ...], ...]  # whole[m][k]: subnet m on an image of pixels[k]

    def whole_seconds(self, index: int, pixels: float) -> float:
        """Predicted seconds of subnet ``index`` on a whole image of ``pixels`` LR pixels."""
        xs, ys = np.asarray(self.pixels, dtype=np.float64), np.asarray(self.whole[index])
        if len(xs) == 1:
            return float(ys[0] * pixels / xs[0])
        if pixels > xs[-1]:
            slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
            return float(ys[-1] + slope * (pixels - xs[-1]))
        return float(np.interp(pixels, xs, ys))

    def routed_seconds(self, subnet_ids: np.ndarray, max_batch: int) -> float:
        """Predicted seconds of running patches routed to ``subnet_ids`` in batches of ``max_batch``."""
        counts = np.bincount(np.asarray(subnet_ids), minlength=len(self.patch))
        calls = -(-counts // max_batch)
        return float(calls @ np.asarray(self.call) + counts @ np.asarray(self.patch) + self.overhead * counts.sum())

    def to_dict(self) -> Dict:
        return dict(device=self.device, patch_size=self.patch_size, call=list(self.call), patch=list(self.patch),
                    overhead=self.overhead, pixels=list(self.pixels), whole=[list(row) for row in self.whole])

    @classmethod
    def from_dict(cls, state: Dict) -> 'TimeProfile':
        return cls(str(state['device']), int(state['patch_size']), tuple(map(float, state['call'])),
                   tuple(map(float, state['patch'])), float(state['overhead']), tuple(map(int, state['pixels'])),
                   tuple(tuple(map(float, row)) for row in state['whole']))
