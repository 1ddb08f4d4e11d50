"""The whole image as one piece: one subnet on all of it, as a plain BasicSR network runs (in the
runtime's tiles when ``--tile`` is set, :meth:`wbsr_basicsr.runtime.runner.Runner.run_whole`)."""
import numpy as np
from torch import Tensor

from wbsr_basicsr.runtime.pieces import Pieces
from wbsr_basicsr.runtime.runner import Runner
from wbsr_basicsr.runtime.timing import TimeProfile

from .base import RoutingUnit, register_unit


@register_unit
class ImageUnit(RoutingUnit):
    family = 'image'

    def pieces(self, height: int, width: int, runner: Runner) -> Pieces:
        box = np.array([[0, 0, height, width]], dtype=np.int64)
        return Pieces(height, width, box, box)

    def seconds(self, pieces: Pieces, timing: TimeProfile, runner: Runner) -> np.ndarray:
        """Every window the runner runs the image in under each subnet (:meth:`Runner.tiles`), summed."""
        return np.array([[runner.subnet_image_seconds(m, pieces.height, pieces.width)
                          for m in range(runner.num_subnets)]])

    def flops(self, pieces: Pieces, ids: np.ndarray, runner: Runner) -> float:
        return runner.subnet_image_flops(int(ids[0]), pieces.height, pieces.width)

    def run(self, lq: Tensor, pieces: Pieces, ids: np.ndarray, runner: Runner) -> Tensor:
        return runner.run_whole(int(ids[0]), lq)
