"""Tiles of ``T`` LR pixels (``tile<T>``), each run by its own subnet on a window ``--tile-pad``
pixels wider on every side, whose margin is cropped off its output: routing without the paper's
overlap averaging, at a context cost that falls with ``T`` (docs/routing.md, "Plans")."""
from typing import Optional

from wbsr_basicsr.runtime.pieces import Pieces, tiled
from wbsr_basicsr.runtime.runner import Runner

from .base import RoutingUnit, register_unit

SMALLEST = 16


@register_unit
class TileUnit(RoutingUnit):
    family = 'tile'

    def __init__(self, size: Optional[int] = None) -> None:
        if size is None or size < SMALLEST:
            raise ValueError(f'tile units take their size in LR pixels, at least {SMALLEST}: e.g. tile160.')
        self.size = size

    def pieces(self, height: int, width: int, runner: Runner) -> Pieces:
        return tiled(height, width, self.size, runner.tile_pad)
