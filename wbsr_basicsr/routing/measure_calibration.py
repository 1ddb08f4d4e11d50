"""Measuring a routing calibration (:class:`wbsr_basicsr.routing.calibration.Calibration`): every
subnet on every patch of LR/HR pairs disjoint from the test sets (``scripts/calibrate_routing.py``)."""
from typing import Iterable, List, Tuple

import numpy as np
import torch
from torch import Tensor

from wbsr_basicsr.archs.slimmable import SlimmableSupernet
from wbsr_basicsr.routing.calibration import Calibration
from wbsr_basicsr.routing.edges import NUM_BINS, EdgeTable, edge_scores
from wbsr_basicsr.routing.quality_model import QualityModel, patch_statistics
from wbsr_basicsr.routing.oracle_router import patch_errors, psnr_of_errors
from wbsr_basicsr.runtime.patches import GTPatches, chop
from wbsr_basicsr.runtime.runner import Runner


@torch.no_grad()
def measure_calibration(net: SlimmableSupernet, pairs: Iterable[Tuple[Tensor, Tensor]], scale: int, patch_size: int,
              stride: int, fingerprint: str, source: str, max_batch: int = 256,
              num_bins: int = NUM_BINS) -> Calibration:
    """Run every subnet on every patch of the ``(lq, gt)`` pairs (``(1, C, h, w)`` and
    ``(1, C, h*s, w*s)`` in [0, 1]), the patches of several images batched together, and
    tabulate the patch PSNRs (ARM's edge table, each subnet's mean) and fit the quality model on them."""
    runner = Runner(net, patch_size, stride, max_batch)
    scores: List[np.ndarray] = []
    statistics: List[np.ndarray] = []
    images: List[np.ndarray] = []
    psnr: List[np.ndarray] = []
    waiting: List[Tuple[Tensor, Tensor]] = []

    def run_waiting() -> None:
        patches, targets = (torch.cat(parts) for parts in zip(*waiting))
        psnr.append(psnr_of_errors(patch_errors(runner, runner.num_subnets, patches, targets)))
        waiting.clear()

    for lq, gt in pairs:
        layout = runner.layout(lq)
        patches = chop(lq, layout)
        scores.append(edge_scores(patches))
        statistics.append(patch_statistics(patches))
        images.append(np.full(len(patches), len(images)))
        waiting.append((patches, GTPatches(gt, layout)[:]))
        if sum(len(part) for part, _ in waiting) >= max_batch:
            run_waiting()
    if waiting:
        run_waiting()
    if not scores:
        raise ValueError(f'{source}: no calibration images.')
    scores_all, psnr_all = np.concatenate(scores), np.concatenate(psnr)
    quality = QualityModel.fit(np.concatenate(statistics), psnr_all, np.concatenate(images))
    return Calibration(tuple(net.subnets), scale, patch_size, fingerprint, source, len(scores_all),
                       tuple(map(float, psnr_all.mean(0))), EdgeTable.build(scores_all, psnr_all, num_bins), quality)
