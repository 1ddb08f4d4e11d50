"""Routing units: what one subnet runs on (docs/routing.md, "Plans").

A unit cuts an LR image into pieces, each run by one subnet: the whole image (``image``), tiles of
``T`` LR pixels with a margin cropped off their output (``tile<T>``, as ``--tile``), or the
paper's overlapping patches, averaged where they overlap (``patch``). A unit prices its pieces
in seconds per subnet by the supernet's time profile (:class:`wbsr_basicsr.runtime.timing.TimeProfile`),
says which piece owns each of the image's routing patches (for quality predictions, usage and
maps), and runs an allocation on the runner. The planner (:mod:`.planner`) weighs the units
against each other.

A new unit is one file ``plans/<name>_unit.py`` holding a subclass decorated with
:func:`register_unit`.
"""
import re
from typing import ClassVar, Dict, Optional, Sequence, Type

import numpy as np
from torch import Tensor

from wbsr_basicsr.runtime.pieces import Pieces
from wbsr_basicsr.runtime.runner import Runner
from wbsr_basicsr.runtime.timing import TimeProfile

class RoutingUnit:
    """One way to cut an image into the pieces subnets run on; ``size``: the unit's own size, if any."""

    family: ClassVar[str] = ''

    def __init__(self, size: Optional[int] = None) -> None:
        if size is not None:
            raise ValueError(f'routing unit {self.family!r} takes no size, got {self.family}{size}.')
        self.size = size

    @property
    def label(self) -> str:
        return f'{self.family}{self.size or ""}'

    def pieces(self, height: int, width: int, runner: Runner) -> Pieces:
        raise NotImplementedError

    def seconds(self, pieces: Pieces, timing: TimeProfile, runner: Runner) -> np.ndarray:
        """``(P, M)``: predicted seconds of every piece under every subnet, by its window's pixels."""
        return timing.windows_seconds(pieces.window_pixels())

    def owners(self, pieces: Pieces, centers: np.ndarray) -> np.ndarray:
        """``(N,)``: the piece whose region holds each routing patch's centre ``(N, 2)`` (y, x)."""
        regions = pieces.regions
        inside = ((centers[:, None, 0] >= regions[None, :, 0]) & (centers[:, None, 0] < regions[None, :, 2])
                  & (centers[:, None, 1] >= regions[None, :, 1]) & (centers[:, None, 1] < regions[None, :, 3]))
        return inside.argmax(1)

    def weights(self, pieces: Pieces) -> np.ndarray:
        """``(P,)``: how much each piece counts in the image's quality (summing to one)."""
        return pieces.region_shares()

    def flops(self, pieces: Pieces, ids: np.ndarray, runner: Runner) -> float:
        """FLOPs of running every piece's window under its subnet."""
        net = runner.net
        return float(sum(net.flops(net.subnets[m], (y1 - y0, x1 - x0)) for m, (y0, x0, y1, x1) in
                         zip(ids, pieces.windows)))

    def run(self, lq: Tensor, pieces: Pieces, ids: np.ndarray, runner: Runner) -> Tensor:
        """The SR image of ``lq`` ``(1, C, H, W)`` with piece ``p`` run by subnet ``ids[p]``."""
        return runner.run_windows(lq, pieces.windows, pieces.regions, ids)


UNIT_REGISTRY: Dict[str, Type[RoutingUnit]] = {}
UNIT_NAME = re.compile(r'^([a-z_]+?)(\d*)$')


def register_unit(cls: Type[RoutingUnit]) -> Type[RoutingUnit]:
    """Class decorator: register ``cls`` under its ``family``."""
    if not cls.family or cls.family in UNIT_REGISTRY:
        raise KeyError(f'Routing unit {cls.family!r} is empty or registered already.')
    UNIT_REGISTRY[cls.family] = cls
    return cls


def unit_of(name: str) -> RoutingUnit:
    """The unit a name such as ``image``, ``tile160`` or ``patch`` asks for; ``ValueError`` listing the
    registered families otherwise."""
    match = UNIT_NAME.match(str(name))
    if match is None or match.group(1) not in UNIT_REGISTRY:
        raise ValueError(f'Unknown routing unit {name!r}; choose from {tuple(UNIT_REGISTRY)} (tiles with their '
                         'size in LR pixels, e.g. tile160).')
    return UNIT_REGISTRY[match.group(1)](int(match.group(2)) if match.group(2) else None)


def units_of(names: Sequence[str]) -> tuple:
    units = tuple(unit_of(name) for name in names)
    if not units:
        raise ValueError('give at least one routing unit.')
    return units
