"""Routing calibration: what routing learns about one trained supernet on LR/HR pairs disjoint
from the test sets, stored in its checkpoint by ``scripts/calibrate_routing.py``.

Every subnet runs on every calibration patch (:func:`.oracle.patch_errors`, the patches of several
images in one batch); the patch PSNRs give

- ARM's edge-score table (:class:`.arm_router.EdgeTable`);
- each subnet's mean patch PSNR, hence the **Pareto ladder**: the subnets that are better than
  every cheaper one, and the full network. Eq. 15-16 climb the subnets in cost order assuming
  each is better than the one below; the ladder drops the ones that are not (docs/routing.md,
  "Ladders").

A calibration names the parameters it measured (their checksum), the scale, patch size and
subnets; :meth:`Calibration.check` refuses it for any other network.
"""
from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from wbsr_basicsr.archs.slimmable import SlimmableSupernet, Subnet
from wbsr_basicsr.models.patches import PatchLayout, chop

from .arm_router import NUM_BINS, EdgeTable, edge_scores
from .oracle import gt_patches, patch_errors, psnr_of_errors

CALIBRATE_HINT = ('python scripts/calibrate_routing.py --model <checkpoint> --gt <HR folder or LMDB> '
                  '--lq <LR folder or LMDB> (a calibration set disjoint from the test sets)')


@dataclass(frozen=True)
class Calibration:
    """One supernet's routing calibration: ``mean_psnr`` per subnet (in ``subnets`` order) over
    ``patches`` calibration patches from ``source``, and the ARM ``edge_table``."""

    subnets: Tuple[Subnet, ...]
    scale: int
    patch_size: int
    fingerprint: str
    source: str
    patches: int
    mean_psnr: Tuple[float, ...]
    edge_table: EdgeTable

    def pareto_ladder(self) -> Tuple[int, ...]:
        """Indices of the subnets whose mean PSNR beats every cheaper subnet's (subnets in cost
        order), topped by the full network in any case, so that every target stays reachable."""
        best, ladder = -np.inf, []
        for index, value in enumerate(self.mean_psnr):
            if value > best:
                best, ladder = value, ladder + [index]
        full = len(self.mean_psnr) - 1
        return tuple(ladder if ladder[-1] == full else ladder + [full])

    def check(self, subnets: Sequence[Subnet], scale: int, patch_size: int, fingerprint: str, where: str) -> None:
        """``ValueError`` naming ``where`` and what to run unless this calibration was measured on
        exactly these parameters, subnets, scale and patch size."""
        found = dict(subnets=[tuple(s) for s in subnets], scale=scale, patch_size=patch_size)
        stored = dict(subnets=list(self.subnets), scale=self.scale, patch_size=self.patch_size)
        differ = [f'{key} {stored[key]} (network: {found[key]})' for key in found if stored[key] != found[key]]
        if self.fingerprint != fingerprint:
            differ.append('parameters (their checksum differs)')
        if differ:
            raise ValueError(f'{where}: its routing calibration was measured on another network: {"; ".join(differ)}. '
                             f'Calibrate this one: {CALIBRATE_HINT}.')

    @classmethod
    def from_dict(cls, state: Dict) -> 'Calibration':
        return cls(tuple(tuple(s) for s in state['subnets']), int(state['scale']), int(state['patch_size']),
                   str(state['fingerprint']), str(state['source']), int(state['patches']),
                   tuple(map(float, state['mean_psnr'])), EdgeTable.from_dict(state['edge_table']))

    def to_dict(self) -> Dict:
        return dict(subnets=[list(s) for s in self.subnets], scale=self.scale, patch_size=self.patch_size,
                    fingerprint=self.fingerprint, source=self.source, patches=self.patches,
                    mean_psnr=list(self.mean_psnr), edge_table=self.edge_table.to_dict())


@torch.no_grad()
def calibrate(net: SlimmableSupernet, pairs: Iterable[Tuple[Tensor, Tensor]], scale: int, patch_size: int,
              stride: int, fingerprint: str, source: str, max_batch: int = 256,
              num_bins: int = NUM_BINS) -> Calibration:
    """Run every subnet on every patch of the ``(lq, gt)`` pairs (``(1, C, h, w)`` and
    ``(1, C, h*s, w*s)`` in [0, 1]), the patches of several images batched together, and
    tabulate the patch PSNRs."""
    scores: List[np.ndarray] = []
    psnr: List[np.ndarray] = []
    waiting: List[Tuple[Tensor, Tensor]] = []

    def run_waiting() -> None:
        patches, targets = (torch.cat(parts) for parts in zip(*waiting))
        for start in range(0, len(patches), max_batch):
            errors = patch_errors(net, patches[start:start + max_batch], targets[start:start + max_batch])
            psnr.append(psnr_of_errors(errors))
        waiting.clear()

    for lq, gt in pairs:
        layout = PatchLayout.cover(lq.shape[-2], lq.shape[-1], patch_size, stride)
        patches = chop(lq, layout)
        scores.append(edge_scores(patches))
        waiting.append((patches, gt_patches(gt, layout)))
        if sum(len(part) for part, _ in waiting) >= max_batch:
            run_waiting()
    if waiting:
        run_waiting()
    if not scores:
        raise ValueError(f'{source}: no calibration images.')
    scores_all, psnr_all = np.concatenate(scores), np.concatenate(psnr)
    return Calibration(tuple(net.subnets), scale, patch_size, fingerprint, source, len(scores_all),
                       tuple(map(float, psnr_all.mean(0))), EdgeTable.build(scores_all, psnr_all, num_bins))
