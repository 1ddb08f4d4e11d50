"""Routing calibration: what routing learns about one trained supernet on LR/HR pairs disjoint
from the test sets, stored in its checkpoint by ``scripts/calibrate_routing.py``.

Every subnet runs on every calibration patch (:func:`wbsr_basicsr.routing.measure_calibration.measure_calibration`);
the patch PSNRs give

- ARM's edge-score table (:class:`.edges.EdgeTable`), for ARM's router;
- the quality model (:class:`.quality_model.QualityModel`), which the planner predicts with, and
  the error of the gains it predicts on calibration images it was not fitted on;
- each subnet's mean patch PSNR, hence the **Pareto ladder**: the subnets that are better than
  every cheaper one, and the full network. Eq. 15-16 climb the subnets in cost order assuming
  each is better than the one below; the ladder drops the ones that are not (docs/routing.md,
  "Ladders").

A calibration names the parameters it measured (their checksum), the scale, patch size and
subnets; :meth:`Calibration.check` refuses it for any other network.
"""
from dataclasses import dataclass
from typing import ClassVar, Dict, Optional, Sequence, Tuple

import numpy as np
from torch import Tensor

from wbsr_basicsr.archs.slimmable import Subnet

from .edges import EdgeTable, edge_scores
from .quality_model import QualityModel, patch_statistics

CALIBRATE_HINT = ('python scripts/calibrate_routing.py --model <checkpoint> --gt <HR folder or LMDB> '
                  '--lq <LR folder or LMDB> (photos disjoint from the training and test sets)')


@dataclass(frozen=True)
class Calibration:
    """One supernet's routing calibration: ``mean_psnr`` per subnet (in ``subnets`` order) over
    ``patches`` calibration patches from ``source``, the ARM ``edge_table`` and the ``quality`` model
    (None in calibrations made before it: the edge table predicts instead)."""

    subnets: Tuple[Subnet, ...]
    scale: int
    patch_size: int
    fingerprint: str
    source: str
    patches: int
    mean_psnr: Tuple[float, ...]
    edge_table: EdgeTable
    quality: Optional[QualityModel] = None
    provide: ClassVar[str] = f'a routing calibration of this checkpoint: run {CALIBRATE_HINT}'

    def pareto_ladder(self, costs: Optional[Sequence[float]] = None) -> Tuple[int, ...]:
        """Indices of the subnets whose mean PSNR beats every cheaper subnet's, cheapest first,
        topped by the full network in any case, so that every target stays reachable. Cheaper: by
        ``costs`` (per subnet; default the supernet's order, FLOPs)."""
        order = range(len(self.mean_psnr)) if costs is None else np.argsort(np.asarray(costs), kind='stable')
        best, ladder = -np.inf, []
        for index in order:
            if self.mean_psnr[index] > best:
                best, ladder = self.mean_psnr[index], ladder + [int(index)]
        full = len(self.mean_psnr) - 1
        return tuple(ladder[:ladder.index(full)] if full in ladder else ladder) + (full,)

    def predict(self, patches: Tensor) -> np.ndarray:
        """``(N, M)``: each subnet's PSNR on each of ``(N, C, P, P)`` LR patches, as the quality model
        predicts it (the edge table, from the patches' edge scores, without one)."""
        if self.quality is None:
            return self.edge_table.predict(edge_scores(patches))
        return self.quality.predict(patch_statistics(patches))

    @property
    def gain_error(self) -> Optional[float]:
        """The quality model's held-out error of an image's predicted gain (dB; None without a model)."""
        return None if self.quality is None else self.quality.gain_error

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
                   tuple(map(float, state['mean_psnr'])), EdgeTable.from_dict(state['edge_table']),
                   QualityModel.from_dict(state['quality']) if state.get('quality') else None)

    def to_dict(self) -> Dict:
        return dict(subnets=[list(s) for s in self.subnets], scale=self.scale, patch_size=self.patch_size,
                    fingerprint=self.fingerprint, source=self.source, patches=self.patches,
                    mean_psnr=list(self.mean_psnr), edge_table=self.edge_table.to_dict(),
                    quality=None if self.quality is None else self.quality.to_dict())
