"""Super-resolve LR images with a WBSR checkpoint alone: what ``inference/inference_wbsr.py`` runs.

:class:`Upscaler` loads the supernet the checkpoint records with its routing (thresholds,
calibration: :class:`.checkpoint.SupernetEntry`) and runs one row per image on the engine
(:mod:`.engine`): routed rows chop, route, run and merge; ``whole`` rows run one subnet on the
whole image, as a plain BasicSR network would. Each result reports two FLOPs ratios against the
full network on the whole image: the paper's (per patch, overlaps not counted) and the honest one
(every patch actually run, overlaps included).
"""
import contextlib
from dataclasses import dataclass, replace
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from wbsr_basicsr.archs.slimmable import SlimmableSupernet, Subnet
from wbsr_basicsr.routing import Router
from wbsr_basicsr.routing.timing import TimeProfile

from .checkpoint import LoadedRouting, fingerprint, load_supernet
from .engine import Allocations, Engine
from .timing import device_name, measure_time_profile


@dataclass
class Upscaled:
    """One image's SR output and its cost."""

    sr: Tensor
    subnet_ids: Optional[np.ndarray]  # per patch (routed rows)
    corners: Optional[List[Tuple[int, int]]]
    flops: float  # FLOPs run, overlapping patches included, router apart
    whole_flops: float  # the full network's on the whole image
    flops_percent: float  # the paper's convention: per patch, of the full network on the same patches
    seconds: float
    whole_subnet: Optional[Subnet] = None  # a time budget's fallback: this subnet ran on the whole image
    time_share: Optional[float] = None  # time budgets: predicted seconds over the full network's on the image

    @property
    def honest_percent(self) -> float:
        return 100. * self.flops / self.whole_flops


class Upscaler:
    """A supernet with its routing, ready to super-resolve on ``device``, at most ``max_batch``
    patches per forward, in half precision under CUDA autocast if ``fp16``."""

    def __init__(self, net: SlimmableSupernet, loaded: LoadedRouting, scale: int, device: str = 'cpu',
                 max_batch: int = 256, fp16: bool = False, where: str = 'the network') -> None:
        if fp16 and not device.startswith('cuda'):
            raise ValueError('--fp16 runs under CUDA autocast; it needs --device cuda.')
        if device.startswith('cuda') and not torch.cuda.is_available():
            raise ValueError(f'--device {device}: CUDA is not available on this machine; use --device cpu.')
        self.net = net.eval().to(device, memory_format=torch.channels_last)  # see patches.channels_last
        self.routing, self.scale, self.where = loaded.data, scale, where
        self.device, self.fp16 = torch.device(device), fp16
        self.patch_size, self.stride = loaded.geometry.patch_size, loaded.geometry.stride
        self.engine = Engine(self.net, loaded.data, self.patch_size, self.stride, max_batch)

    @classmethod
    def from_checkpoint(cls, checkpoint: str, device: str = 'cpu', max_batch: int = 256, fp16: bool = False,
                        network_opt: Optional[Dict] = None) -> 'Upscaler':
        """The supernet a WBSR checkpoint records (or ``network_opt`` builds), with its routing and the
        time profile of ``device``, if the checkpoint has one."""
        net, _, entry = load_supernet(checkpoint, network_opt)
        loaded = entry.routing(net, fingerprint(net), checkpoint, device=device_name(torch.device(device), fp16))
        return cls(net, loaded, entry.scale or net.upscale, device, max_batch, fp16, checkpoint)

    @property
    def device_name(self) -> str:
        return device_name(self.device, self.fp16)

    def measure_time_profile(self) -> TimeProfile:
        """Measure and use this device's time profile (for checkpoints that have none for it)."""
        with self.autocast():
            profile = measure_time_profile(self.engine, self.device_name)
        self.routing = replace(self.routing, timing=profile)
        self.engine.data = self.routing
        return profile

    def check(self, row: Router) -> None:
        self.engine.check([row], self.where)

    def autocast(self):
        return torch.autocast('cuda', dtype=torch.float16) if self.fp16 else contextlib.nullcontext()

    def first_pass(self, images: Iterable[Tensor], count: int, row: Router) -> Allocations:
        """:meth:`.engine.Engine.first_pass` of ``row`` over the ``count`` LR ``images``."""
        with torch.no_grad(), self.autocast():
            return self.engine.first_pass([row], ((image.to(self.device), None) for image in images), count)

    @torch.no_grad()
    def upscale(self, lq: Tensor, row: Router, subnet_ids: Optional[np.ndarray] = None) -> Upscaled:
        """Super-resolve ``lq`` ``(1, C, H, W)`` in [0, 1] under ``row`` (``subnet_ids``: allocated by
        :meth:`first_pass`)."""
        lq = lq.to(self.device)
        with self.autocast():
            result = self.engine.infer(lq, row, subnet_ids)
        routed = row.patchwise and not result.fallback
        return Upscaled(result.sr.float(), result.subnet_ids if routed else None,
                        result.layout.corners if routed else None, result.flops,
                        self.net.flops(None, (lq.shape[-2], lq.shape[-1])),
                        100. * result.flops_per_patch / self.engine.costs.max(), result.seconds,
                        self.net.subnets[int(result.subnet_ids[0])] if result.fallback else None, result.time_share)
