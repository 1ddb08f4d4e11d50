"""Measuring a supernet's time profile (:class:`wbsr_basicsr.routing.timing.TimeProfile`) on the device
the engine runs on: what budgets in time spend (docs/routing.md, "Budgets in time").

The values of the inputs do not change the time of a convolution, so random images are timed:
each subnet's forward on a full batch (its cost per patch, the call's share included) and on a
small one (what a call costs beyond its patches), the engine's own work per patch (chop, the
gradient router's scoring, merge), each subnet on whole images of a few sizes, and on the largest
of them in tiles of a few sizes as well (whole images run in tiles where that measured faster).
Every figure is the least of ``repeats`` interleaved runs: what the device takes when nothing
else runs (on a shared machine medians of the same runs moved by 20-30% from one measurement to
the next).
"""
import platform
from typing import List, Sequence, Tuple

import torch

from wbsr_basicsr.plans.base import tiled
from wbsr_basicsr.routing.timing import TimeProfile
from wbsr_basicsr.utils.gradient_stats import difficulty_scores, patch_gradient_vectors
from wbsr_basicsr.utils.timing import interleaved_medians

from .engine import Engine
from .patches import Merger, chop

WHOLE_SIDES = (48, 96, 160, 256, 512)
"""LR sides of the square whole images timed (pixels between them are interpolated)."""
TILE_SIDES = (128, 256)
"""LR sides of the tiles the largest whole image is also timed in."""
LARGE_REPEATS = 3
"""Runs of the largest image (whole and tiled): each takes seconds on a CPU, so noise weighs less."""


def host_name(device: torch.device) -> str:
    """The processor a CPU profile is measured on (GPU profiles name theirs in :func:`device_name`)."""
    if device.type != 'cpu':
        return ''
    try:
        with open('/proc/cpuinfo') as info:
            return next((line.split(':', 1)[1].strip() for line in info if line.startswith('model name')), '')
    except OSError:
        return platform.processor()


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
                         batch: int = 64, tile_sides: Sequence[int] = TILE_SIDES) -> TimeProfile:
    """The time profile of ``engine``'s supernet, stored under ``name`` (:func:`device_name`): a batch
    of ``batch`` patches gives each subnet's seconds per patch, one of ``batch // 8`` what a call
    costs beyond its patches (a difference of two medians would amplify the noise); whole images of
    ``sides`` the seconds per image, the largest also in tiles of ``tile_sides`` (with the engine's
    ``tile_pad``)."""
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
    tiles = seamless_tiles(engine, images[-1], tile_sides)
    whole, shares = [], []
    for index in range(engine.num_subnets):
        smaller = interleaved_medians([lambda image=image: engine.run(index, image) for image in images[:-1]],
                                      device, repeats, min)
        largest, *in_tiles = largest_image_times(engine, index, images[-1], tiles, device, min(repeats, LARGE_REPEATS))
        whole.append(tuple(smaller) + (largest,))
        shares.append(tuple(seconds / largest for seconds in in_tiles))
    overhead = patch_overhead(engine, images[-1], device, repeats)
    return TimeProfile(name, size, tuple(calls), tuple(per_patch), overhead, tuple(side * side for side in sides),
                       tuple(whole), engine.tile_pad, tiles, tuple(shares), host_name(device))


def seamless_tiles(engine: Engine, image: torch.Tensor, tile_sides: Sequence[int]) -> Tuple[int, ...]:
    """The sizes of ``tile_sides`` smaller than ``image`` in whose tiles (with the engine's margin) the
    full network's output on ``image`` is within a grey level of the whole image's; none for networks
    with :attr:`~wbsr_basicsr.archs.slimmable.SlimmableSupernet.global_context`."""
    if engine.net.global_context:
        return ()
    height, width = image.shape[-2:]
    full = engine.num_subnets - 1
    whole = to_grey_levels(engine.run(full, image))
    seamless = []
    for tile in (side for side in tile_sides if engine.tile_pad < side < min(height, width)):
        output = engine.run_in_tiles(full, image, tiled(height, width, tile, engine.tile_pad))
        if (to_grey_levels(output) - whole).abs().max() <= 1:
            seamless.append(tile)
    return tuple(seamless)


def to_grey_levels(image: torch.Tensor) -> torch.Tensor:
    """An SR output in [0, 1] as the 8-bit grey levels it is saved in."""
    return (image.float().clamp(0, 1) * 255).round()


def largest_image_times(engine: Engine, index: int, image: torch.Tensor, tiles: Sequence[int], device: torch.device,
                        repeats: int) -> Tuple[float, ...]:
    """Seconds of subnet ``index`` on ``image`` whole, then in tiles of each of ``tiles`` (with the
    engine's margin), interleaved."""
    height, width = image.shape[-2:]
    windows = [tiled(height, width, tile, engine.tile_pad) for tile in tiles]
    runs = [lambda: engine.run(index, image)] + [lambda pieces=pieces: engine.run_in_tiles(index, image, pieces)
                                                 for pieces in windows]
    return tuple(interleaved_medians(runs, device, repeats, min))


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
