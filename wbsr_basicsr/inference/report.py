"""The results table of dynamic inference: running sums of each row over a set, and the table
that validation and ``test.py`` log (docs/routing.md, "Tables")."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from wbsr_basicsr.archs.slimmable import SlimmableSupernet

from .engine import RowResult


class RowTotals:
    """Running sums of one inference row over a dataset."""

    def __init__(self, subnets: Sequence[Tuple[int, int]], full_flops: float) -> None:
        self.full_flops, self.subnets = full_flops, subnets
        self.images = 0
        self.metrics: Dict[str, float] = {}
        self.flops = 0.
        self.router_flops = 0.
        self.patches = 0
        self.seconds = 0.
        self.usage = np.zeros(len(subnets), dtype=np.int64)
        self.per_image: List[Dict] = []
        self.time_shares: List[float] = []
        self.fallbacks = 0
        self.plans: Dict[str, int] = {}

    def add(self, scores: Dict[str, float], result: RowResult, image: str) -> None:
        self.images += 1
        self.per_image.append(dict(image=image, **{name: float(value) for name, value in scores.items()},
                                   flops_percent=100. * result.flops_per_patch / self.full_flops,
                                   patches=len(result.subnet_ids), seconds=result.seconds))
        if result.time_share is not None:
            self.time_shares.append(result.time_share)
            self.per_image[-1].update(time_percent=100. * result.time_share, fallback=result.fallback)
            self.fallbacks += result.fallback
        if result.plan is not None:
            self.per_image[-1].update(plan=result.plan.describe(self.subnets))
            self.plans[result.plan.unit.label] = self.plans.get(result.plan.unit.label, 0) + 1
        for name, value in scores.items():
            self.metrics[name] = self.metrics.get(name, 0.) + float(value)
        count = len(result.subnet_ids)
        self.patches += count
        self.flops += result.flops_per_patch * count
        self.router_flops += result.router_flops_per_patch * count
        self.seconds += result.seconds
        self.usage += np.bincount(result.subnet_ids, minlength=len(self.usage))

    def summary(self) -> Dict:
        """Image-averaged metrics and time; patch-averaged FLOPs (the paper's convention) and usage;
        each image's own figures under ``per_image``."""
        flops = self.flops / self.patches
        summary = dict({name: value / self.images for name, value in self.metrics.items()},
                       gflops=flops / 1e9, flops_percent=100. * flops / self.full_flops,
                       router_gflops=self.router_flops / self.patches / 1e9, seconds=self.seconds / self.images,
                       usage=(self.usage / self.patches).tolist(), patches=self.patches, images=self.images,
                       per_image=self.per_image)
        if self.time_shares:  # time-budget rows: the predicted share of the full network's time, image-averaged
            summary.update(time_percent=100. * float(np.mean(self.time_shares)), fallbacks=self.fallbacks)
        if self.plans:  # plan rows: how many images ran each unit
            summary.update(plans=self.plans)
        return summary


def format_table(dataset_name: str, summary: List[Dict], metric_names: List[str], reference: Optional[str],
                 net: SlimmableSupernet, patch_size: int, stride: int, notes: Sequence[str] = ()) -> str:
    """The per-dataset table: one line per inference row; routed rows also show their ``reference``
    metric against the fixed subnets' frontier and the oracle at the same FLOPs. ``notes``: lines
    under the heading (the classifier's size)."""
    subnets = ' '.join(f'{w}x{d}' for w, d in net.subnets)
    lines = [f'WBSR {dataset_name}: {summary[0]["images"]} images, {patch_size}x{patch_size} LR patches every '
             f'{stride} px; FLOPs per patch (router apart), % of the full network; usage = % of patches per subnet '
             f'({subnets})', *notes]
    if reference is not None:
        lines.append(f'vs fixed / vs oracle: {reference} minus the fixed subnets\' frontier / the oracle at the '
                     "row's FLOPs (docs/routing.md, \"Tables\")")
    header = f"{'row':<26}" + ''.join(f'{name:>9}' for name in metric_names) + \
        f"{'GFLOPs':>9}{'%full':>7}{'router G':>10}{'s/img':>8}{'vs fixed':>9}{'vs oracle':>10}  usage"
    lines.append(header)
    for entry in summary:
        metrics = ''.join(f'{entry[name]:>9.4f}' for name in metric_names)
        versus = ''.join(f'{value:>{width}.3f}' if value is not None else f'{"-":>{width}}'
                         for value, width in ((entry.get('vs_fixed'), 9), (entry.get('vs_oracle'), 10)))
        usage = ' '.join(f'{100 * u:3.0f}' for u in entry['usage'])
        lines.append(f"{entry['row']:<26}{metrics}{entry['gflops']:>9.3f}{entry['flops_percent']:>7.1f}"
                     f"{entry['router_gflops']:>10.5f}{entry['seconds']:>8.3f}{versus}  {usage}")
    return '\n'.join(lines)
