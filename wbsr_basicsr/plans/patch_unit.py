"""The paper's unit (Fig. 2b): overlapping ``patch_size`` patches every ``stride`` pixels, batched per
subnet and averaged where they overlap (:mod:`wbsr_basicsr.runtime.patches`)."""
import numpy as np
from torch import Tensor

from wbsr_basicsr.runtime.patches import chop
from wbsr_basicsr.runtime.pieces import Pieces
from wbsr_basicsr.runtime.runner import Runner
from wbsr_basicsr.runtime.timing import TimeProfile

from .base import RoutingUnit, register_unit


@register_unit
class PatchUnit(RoutingUnit):
    family = 'patch'

    def pieces(self, height: int, width: int, runner: Runner) -> Pieces:
        layout = runner.layout_of(height, width)
        corners = np.array(layout.corners, dtype=np.int64).reshape(-1, 2)
        boxes = np.concatenate([corners, corners + layout.patch_size], 1)
        return Pieces(height, width, boxes, boxes)

    def seconds(self, pieces: Pieces, timing: TimeProfile, runner: Runner) -> np.ndarray:
        """Per patch: its share of a batch (the call spread over a full batch) and the runner's own work."""
        per_patch = np.asarray(timing.patch) + np.asarray(timing.call) / runner.max_batch + timing.overhead
        return np.broadcast_to(per_patch, (pieces.count, len(per_patch))).copy()

    def owners(self, pieces: Pieces, centers: np.ndarray) -> np.ndarray:
        return np.arange(pieces.count)  # the routing patches are these patches

    def weights(self, pieces: Pieces) -> np.ndarray:
        return np.full(pieces.count, 1. / pieces.count)

    def flops(self, pieces: Pieces, ids: np.ndarray, runner: Runner) -> float:
        return float(runner.costs[ids].sum())

    def run(self, lq: Tensor, pieces: Pieces, ids: np.ndarray, runner: Runner) -> Tensor:
        layout = runner.layout(lq)
        return runner.run_routed(chop(lq, layout), ids, layout)
