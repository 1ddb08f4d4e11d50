"""Where the pieces a subnet runs on lie in an LR image: tiles, a routing unit's pieces, the whole image."""
from dataclasses import dataclass

import numpy as np

Boxes = np.ndarray
"""``(P, 4)`` integer boxes ``top, left, bottom, right`` in LR pixels, one per piece."""


@dataclass(frozen=True)
class Pieces:
    """Where one unit's pieces lie on an ``height`` x ``width`` LR image: per piece the window it
    runs on and the part of the image it gives (its ``region``: inside the window)."""

    height: int
    width: int
    windows: Boxes
    regions: Boxes

    @property
    def count(self) -> int:
        return len(self.windows)

    def window_pixels(self) -> np.ndarray:
        return (self.windows[:, 2] - self.windows[:, 0]) * (self.windows[:, 3] - self.windows[:, 1])

    def region_shares(self) -> np.ndarray:
        """Each region's share of the image's pixels."""
        regions = self.regions
        return (regions[:, 2] - regions[:, 0]) * (regions[:, 3] - regions[:, 1]) / float(self.height * self.width)


def tiled(height: int, width: int, tile: int, pad: int) -> Pieces:
    """Tiles of ``tile`` pixels row by row, each run on a window ``pad`` wider on every side inside the image."""
    regions = np.array([(top, left, min(top + tile, height), min(left + tile, width))
                        for top in range(0, height, tile) for left in range(0, width, tile)], dtype=np.int64)
    windows = np.stack([np.maximum(regions[:, 0] - pad, 0), np.maximum(regions[:, 1] - pad, 0),
                        np.minimum(regions[:, 2] + pad, height), np.minimum(regions[:, 3] + pad, width)], 1)
    return Pieces(height, width, windows, regions)
