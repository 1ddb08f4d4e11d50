"""Time profiles: what one supernet's subnets cost in seconds on one device, for budgets in time.

A :class:`TimeProfile` is measured by :func:`wbsr_basicsr.inference.timing.measure_time_profile`
(``scripts/calibrate_routing.py`` stores one per device in the checkpoint) and predicts

- a routed image's seconds: per batch of ``b`` patches of subnet ``m``, ``call[m] + b * patch[m]``,
  plus ``overhead`` per patch (chop, scoring, merge);
- a whole image's seconds under subnet ``m``, piecewise linear in its LR pixels between the
  measured sizes (extrapolated along the last piece);
- whether subnet ``m`` runs a large image faster in tiles (:meth:`TimeProfile.faster_tile`): the
  largest image timed was also run in tiles of a few sizes, side by side with the whole.

A row with ``unit: time`` spends ``target`` x the full network's predicted seconds on the whole
image (docs/routing.md, "Budgets in time").
"""
from dataclasses import dataclass
from typing import ClassVar, Dict, Optional, Tuple

import numpy as np

FASTER = 0.03
"""How much less time (a share of the whole image's) tiles must have measured before whole images run
in them: less is within the measurements' noise."""
HUGE = 8
"""On a CPU, images this many times the largest timed one run in tiles wherever tiles measured no
slower than the whole (within :data:`FASTER`): untiled, their activations outgrow the caches (x4 at
1920 x 1280 LR: 32x3, which tiles of 256 did not speed up at 512 x 512, ran 0.62 as long in them;
at 4-4.7 x the pixels 0.94-1.07: docs/results.md)."""


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
    tile_pad: int = 0  # the margin of the tiles timed
    tile_sides: Tuple[int, ...] = ()  # the tile sizes timed on the largest image, in LR pixels
    tiled: Tuple[Tuple[float, ...], ...] = ()  # tiled[m][j]: subnet m in tiles of tile_sides[j], over the whole
    host: str = ''  # the processor it was measured on (CPUs)
    provide: ClassVar[str] = ('a time profile of this supernet on this device: python scripts/calibrate_routing.py '
                              '--time-only --model <checkpoint> --device <the device> (or calibrate it)')

    def faster_tile(self, index: int, pixels: float) -> Optional[int]:
        """The tile size subnet ``index`` runs an image of ``pixels`` LR pixels fastest in, if tiles
        measured at least :data:`FASTER` faster than the whole on the largest image timed and the
        image is at least that large (on a CPU, no slower and :data:`HUGE` times as large); else None
        (the whole image)."""
        if not self.tile_sides or pixels < self.pixels[-1]:
            return None
        shares = self.tiled[index]
        best = min(range(len(shares)), key=shares.__getitem__)
        huge = self.device.startswith('cpu') and pixels >= HUGE * self.pixels[-1]
        return self.tile_sides[best] if shares[best] <= (1 + FASTER if huge else 1 - FASTER) else None

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
                    overhead=self.overhead, pixels=list(self.pixels), whole=[list(row) for row in self.whole],
                    tile_pad=self.tile_pad, tile_sides=list(self.tile_sides), tiled=[list(row) for row in self.tiled],
                    host=self.host)

    @classmethod
    def from_dict(cls, state: Dict) -> 'TimeProfile':
        return cls(str(state['device']), int(state['patch_size']), tuple(map(float, state['call'])),
                   tuple(map(float, state['patch'])), float(state['overhead']), tuple(map(int, state['pixels'])),
                   tuple(tuple(map(float, row)) for row in state['whole']), int(state.get('tile_pad', 0)),
                   tuple(map(int, state.get('tile_sides', ()))),
                   tuple(tuple(map(float, row)) for row in state.get('tiled', ())), str(state.get('host', '')))
