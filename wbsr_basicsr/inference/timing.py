"""Measuring a supernet's time profile (:class:`wbsr_basicsr.routing.timing.TimeProfile`) on the device
the engine runs on: what budgets in time spend (docs/routing.md, "Budgets in time").

The values of the inputs do not change the time of a convolution, so random images are timed:
each subnet's forward on a full batch (its cost per patch, the call's share included) and on a
small one (what a call costs beyond its patches), the engine's own work per patch (chop, the
gradient router's scoring, merge) and each subnet on whole images of a few sizes. Every figure
is the least of ``repeats`` interleaved runs: what the device takes when nothing else runs (on a
shared machine medians of the same runs moved by 20-30% from one measurement to the next).
"""
from typing import List, Sequence

import torch

from wbsr_basicsr.routing.timing import TimeProfile
from wbsr_basicsr.utils.gradient_stats import difficulty_scores, patch_gradient_vectors
from wbsr_basicsr.utils.timing import interleaved_medians

from .engine import Engine
from .patches import Merger, chop

WHOLE_SIDES = (48, 96, 160, 256)
"""LR sides of the square whole images timed (pixels between them are interpolated)."""


def device_name(device: torch.device, half: bool = False) -> str:
    """The key a time profile is stored under: the device kind, the GPU's name or the CPU's thread
    count, and the precision."""
    if device.type == 'cuda':
        kind = f'cuda {torch.cuda.get_device_name(device)}'
    else:
        kind = f'{device.type} {torch.get_num_threads()} threads'
    return f"{kind}, {'float16' if half else 'float32'}"


@torch.no_grad()
def measure_time_profile(engine: Engine, name: str, sides: Sequence[int] = WHOLE_SIDES, repeats: int = 7,
                         batch: int = 64) -> TimeProfile:
    """The time profile of ``engine``'s supernet, stored under ``name`` (:func:`device_name`): a batch
    of ``batch`` patches gives each subnet's seconds per patch, one of ``batch // 8`` what a call
    costs beyond its patches (a difference of two medians would amplify the noise)."""
    device = next(engine.net.parameters()).device
    channels, size = engine.net.num_in_ch, engine.patch_size
    generator = torch.Generator().manual_seed(0)
    patches = torch.rand(batch, channels, size, size, generator=generator).to(device)
    small = max(1, batch // 8)
    calls: List[float] = []
    per_patch: List[float] = []
    for index in range(engine.num_subnets):
        few, many = interleaved_medians(
            [lambda: engine.run(index, patches[:small]), lambda: engine.run(index, patches)], device, repeats, min)
        per_patch.append(many / batch)
        calls.append(max(0., few - small * per_patch[-1]))
    images = [torch.rand(1, channels, side, side, generator=generator).to(device) for side in sides]
    whole = [interleaved_medians([lambda image=image: engine.run(index, image) for image in images], device, repeats,
                                 min) for index in range(engine.num_subnets)]
    overhead = patch_overhead(engine, images[-1], device, repeats)
    return TimeProfile(name, size, tuple(calls), tuple(per_patch), overhead, tuple(side * side for side in sides),
                       tuple(tuple(times) for times in whole))


def patch_overhead(engine: Engine, image: torch.Tensor, device: torch.device, repeats: int) -> float:
    """Seconds per patch of the engine's work besides the subnets: chopping ``image``, scoring the
    patches as the gradient router does, and merging as many SR patches."""
    layout = engine.layout(image)
    scale = engine.net.upscale
    outputs = torch.zeros(min(layout.count, engine.max_batch), image.shape[1], layout.patch_size * scale,
                          layout.patch_size * scale, device=device)
    rows = torch.arange(layout.count, device=device)

    def work() -> None:
        difficulty_scores(patch_gradient_vectors(chop(image, layout))).cpu()
        merger = Merger(layout, scale, image.shape[1], outputs)
        for chunk in rows.split(len(outputs)):
            merger.add(chunk, outputs[:len(chunk)])
        merger.image()

    (seconds,) = interleaved_medians([work], device, repeats, min)
    return seconds / layout.count
