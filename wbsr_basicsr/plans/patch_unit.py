"""The paper's unit (Fig. 2b): overlapping ``patch_size`` patches every ``stride`` pixels, batched per
subnet and averaged where they overlap (:mod:`wbsr_basicsr.inference.patches`)."""
import numpy as np
from torch import Tensor

from wbsr_basicsr.inference.patches import chop
from wbsr_basicsr.routing.timing import TimeProfile

from .base import Pieces, RoutingUnit, register_unit


@register_unit
class PatchUnit(RoutingUnit):
    family = 'patch'

    def pieces(self, height: int, width: int, engine) -> Pieces:
        layout = engine.layout_of(height, width)
        corners = np.array(layout.corners, dtype=np.int64).reshape(-1, 2)
        boxes = np.concatenate([corners, corners + layout.patch_size], 1)
        return Pieces(height, width, boxes, boxes)

    def seconds(self, pieces: Pieces, timing: TimeProfile, engine) -> np.ndarray:
        """Per patch: its share of a batch (the call spread over a full batch) and the engine's own work."""
        per_patch = np.asarray(timing.patch) + np.asarray(timing.call) / engine.max_batch + timing.overhead
        return np.broadcast_to(per_patch, (pieces.count, len(per_patch))).copy()

    def owners(self, pieces: Pieces, centers: np.ndarray) -> np.ndarray:
        return np.arange(pieces.count)  # the routing patches are these patches

    def weights(self, pieces: Pieces) -> np.ndarray:
        return np.full(pieces.count, 1. / pieces.count)

    def flops(self, pieces: Pieces, ids: np.ndarray, engine) -> float:
        return float(engine.costs[ids].sum())

    def run(self, lq: Tensor, pieces: Pieces, ids: np.ndarray, engine) -> Tensor:
        layout = engine.layout(lq)
        return engine.run_routed(chop(lq, layout), ids, layout)
