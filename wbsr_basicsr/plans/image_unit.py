"""The whole image as one piece: one subnet on all of it, as a plain BasicSR network runs (in the
runtime's tiles when ``--tile`` is set, :meth:`wbsr_basicsr.inference.engine.Engine.run_whole`)."""
import numpy as np
from torch import Tensor

from wbsr_basicsr.routing.timing import TimeProfile

from .base import Pieces, RoutingUnit, register_unit


@register_unit
class ImageUnit(RoutingUnit):
    family = 'image'

    def pieces(self, height: int, width: int, engine) -> Pieces:
        box = np.array([[0, 0, height, width]], dtype=np.int64)
        return Pieces(height, width, box, box)

    def seconds(self, pieces: Pieces, timing: TimeProfile, engine) -> np.ndarray:
        """Every window the engine runs the image in under each subnet (:meth:`Engine.tiles`), summed."""
        return np.array([[engine.whole_seconds(m, pieces.height, pieces.width) for m in range(engine.num_subnets)]])

    def flops(self, pieces: Pieces, ids: np.ndarray, engine) -> float:
        return engine.whole_flops(int(ids[0]), pieces.height, pieces.width)

    def run(self, lq: Tensor, pieces: Pieces, ids: np.ndarray, engine) -> Tensor:
        return engine.run_whole(int(ids[0]), lq)
