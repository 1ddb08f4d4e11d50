"""Time profiles: what one supernet's subnets cost in seconds on one device, for budgets in time; their
measurement on the runner, and the user's cache of those measured for a device a checkpoint lacks.

A :class:`TimeProfile` is measured by :func:`measure_time_profile` (``wbsr-calibrate`` stores one per
device in the checkpoint; the inference command keeps one in the user's cache folder) and predicts

- a routed image's seconds: per batch of ``b`` patches of subnet ``m``, ``call[m] + b * patch[m]``,
  plus ``overhead`` per patch (chop, scoring, merge);
- a whole image's seconds under subnet ``m``, piecewise linear in its LR pixels between the
  measured sizes (extrapolated along the last piece);
- whether subnet ``m`` runs a large image faster in tiles (:meth:`TimeProfile.faster_tile`): the
  largest image timed was also run in tiles of a few sizes, side by side with the whole.

A row with ``budget_unit: time`` spends ``target`` x the full network's predicted seconds on the whole
image (docs/routing.md, "Budgets in time").

Measuring: the values of the inputs do not change the time of a convolution, so random images are
timed: each subnet's forward on a full batch (its cost per patch, the call's share included) and on a
small one (what a call costs beyond its patches), the runner's own work per patch (chop, the
gradient router's scoring, merge), each subnet on whole images of a few sizes, and on the largest
of them in tiles of a few sizes as well (whole images run in tiles where that measured faster).
Every figure is the least of ``repeats`` interleaved runs: what the device takes when nothing
else runs (on a shared machine medians of the same runs moved by 20-30% from one measurement to
the next).
"""
import hashlib
import json
import platform
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm import tqdm

from wbsr_basicsr.utils.atomic import write_json
from wbsr_basicsr.utils.cache import cache_folder
from wbsr_basicsr.utils.clock import interleaved_medians
from wbsr_basicsr.utils.gradient_stats import difficulty_scores, patch_gradient_vectors

from .patches import Merger, chop
from .pieces import tiled

if TYPE_CHECKING:  # the runner prices by the profiles this module measures with it
    from .runner import Runner

FASTER = 0.03
"""How much less time (a share of the whole image's) tiles must have measured before whole images run
in them: less is within the measurements' noise."""
HUGE = 8
"""On a CPU, images this many times the largest timed one run in tiles wherever tiles measured no
slower than the whole (within :data:`FASTER`): untiled, their activations outgrow the caches (x4 at
1920 x 1280 LR: 32x3, which tiles of 256 did not speed up at 512 x 512, ran 0.62 as long in them;
at 4-4.7 x the pixels 0.94-1.07: docs/results.md)."""


@dataclass(frozen=True)
class TimeProfile:
    """Seconds of each subnet (in the supernet's order) on ``device``, for ``patch_size`` patches."""

    device: str
    patch_size: int
    call: Tuple[float, ...]  # per forward of a batch of patches
    patch: Tuple[float, ...]  # per patch in a batch
    overhead: float  # per patch: chop, scoring and merge
    pixels: Tuple[int, ...]  # the whole-image sizes measured, in LR pixels, ascending
    whole: Tuple[Tuple[float, ...], ...]  # whole[m][k]: subnet m on an image of pixels[k]
    tile_pad: int = 0  # the margin of the tiles timed
    tile_sides: Tuple[int, ...] = ()  # the tile sizes timed on the largest image, in LR pixels
    tiled: Tuple[Tuple[float, ...], ...] = ()  # tiled[m][j]: subnet m in tiles of tile_sides[j], over the whole
    host: str = ''  # the processor it was measured on (CPUs)
    rescaled_from: str = ''  # not measured in full: another device's profile re-scaled (:func:`rescale_profile`)
    provide: ClassVar[str] = ('a time profile of this supernet on this device: wbsr-calibrate --time-only '
                              '--model <checkpoint> --device <the device> (or calibrate it)')

    def faster_tile(self, index: int, pixels: float) -> Optional[int]:
        """The tile size subnet ``index`` runs an image of ``pixels`` LR pixels fastest in, if tiles
        measured at least :data:`FASTER` faster than the whole on the largest image timed and the
        image is at least that large (on a CPU, no slower and :data:`HUGE` times as large); else None
        (the whole image)."""
        if not self.tile_sides or pixels < self.pixels[-1]:
            return None
        shares = self.tiled[index]
        best = min(range(len(shares)), key=shares.__getitem__)
        huge = self.device.startswith('cpu') and pixels >= HUGE * self.pixels[-1]
        return self.tile_sides[best] if shares[best] <= (1 + FASTER if huge else 1 - FASTER) else None

    def whole_seconds(self, index: int, pixels: float) -> float:
        """Predicted seconds of subnet ``index`` on a whole image of ``pixels`` LR pixels."""
        xs, ys = np.asarray(self.pixels, dtype=np.float64), np.asarray(self.whole[index])
        if len(xs) == 1:
            return float(ys[0] * pixels / xs[0])
        if pixels > xs[-1]:
            slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
            return float(ys[-1] + slope * (pixels - xs[-1]))
        return float(np.interp(pixels, xs, ys))

    def times(self, pixels: float) -> bool:
        """Whether an image of ``pixels`` LR pixels is at least the smallest this profile timed; smaller
        ones take mostly fixed costs that it does not predict, so no budget in time holds on them."""
        return pixels >= self.pixels[0]

    def windows_seconds(self, pixels: np.ndarray) -> np.ndarray:
        """``(P, M)``: predicted seconds of every subnet on whole windows of ``pixels`` ``(P,)`` LR pixels."""
        return np.array([[self.whole_seconds(m, count) for m in range(len(self.patch))] for count in pixels])

    def scaled(self, factors: Sequence[float]) -> 'TimeProfile':
        """This profile with each subnet's seconds (per call, per patch, whole images) times its factor;
        the tiles' shares and the overhead as they are."""
        return replace(self, call=tuple(float(f * s) for f, s in zip(factors, self.call)),
                       patch=tuple(float(f * s) for f, s in zip(factors, self.patch)),
                       whole=tuple(tuple(float(f * s) for s in row) for f, row in zip(factors, self.whole)))

    def routed_seconds(self, subnet_ids: np.ndarray, max_batch: int) -> float:
        """Predicted seconds of running patches routed to ``subnet_ids`` in batches of ``max_batch``."""
        counts = np.bincount(np.asarray(subnet_ids), minlength=len(self.patch))
        calls = -(-counts // max_batch)
        return float(calls @ np.asarray(self.call) + counts @ np.asarray(self.patch) + self.overhead * counts.sum())

    def to_dict(self) -> Dict:
        return dict(device=self.device, patch_size=self.patch_size, call=list(self.call), patch=list(self.patch),
                    overhead=self.overhead, pixels=list(self.pixels), whole=[list(row) for row in self.whole],
                    tile_pad=self.tile_pad, tile_sides=list(self.tile_sides), tiled=[list(row) for row in self.tiled],
                    host=self.host, rescaled_from=self.rescaled_from)

    @classmethod
    def from_dict(cls, state: Dict) -> 'TimeProfile':
        return cls(str(state['device']), int(state['patch_size']), tuple(map(float, state['call'])),
                   tuple(map(float, state['patch'])), float(state['overhead']), tuple(map(int, state['pixels'])),
                   tuple(tuple(map(float, row)) for row in state['whole']), int(state.get('tile_pad', 0)),
                   tuple(map(int, state.get('tile_sides', ()))),
                   tuple(tuple(map(float, row)) for row in state.get('tiled', ())), str(state.get('host', '')),
                   str(state.get('rescaled_from', '')))


WHOLE_SIDES = (48, 96, 160, 256, 512)
"""LR sides of the square whole images timed (pixels between them are interpolated)."""
TILE_SIDES = (128, 256)
"""LR sides of the tiles the largest whole image is also timed in."""
LARGE_REPEATS = 3
"""Runs of the largest image (whole and tiled): each takes seconds on a CPU, so noise weighs less."""
RESCALE_SIDE = 160
"""The LR side of the one image :func:`rescale_profile` times (one of :data:`WHOLE_SIDES`)."""


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
def measure_time_profile(runner: 'Runner', name: str, sides: Sequence[int] = WHOLE_SIDES, repeats: int = 7,
                         batch: int = 64, tile_sides: Sequence[int] = TILE_SIDES) -> TimeProfile:
    """The time profile of ``runner``'s supernet, stored under ``name`` (:func:`device_name`): a batch
    of ``batch`` patches gives each subnet's seconds per patch, one of ``batch // 8`` what a call
    costs beyond its patches (a difference of two medians would amplify the noise); whole images of
    ``sides`` the seconds per image, the largest also in tiles of ``tile_sides`` (with the runner's
    ``tile_pad``)."""
    device = next(runner.net.parameters()).device
    channels, size = runner.net.num_in_ch, runner.patch_size
    generator = torch.Generator().manual_seed(0)
    patches = torch.rand(batch, channels, size, size, generator=generator).to(device)
    small = max(1, batch // 8)
    calls: List[float] = []
    per_patch: List[float] = []
    for index in tqdm(range(runner.num_subnets), desc='time profile: patches', unit='subnet', leave=False):
        few, many = interleaved_medians(
            [lambda: runner.run(index, patches[:small]), lambda: runner.run(index, patches)], device, repeats, min)
        per_patch.append(many / batch)
        calls.append(max(0., few - small * per_patch[-1]))
    images = [torch.rand(1, channels, side, side, generator=generator).to(device) for side in sides]
    tiles = seamless_tiles(runner, images[-1], tile_sides)
    whole, shares = [], []
    for index in tqdm(range(runner.num_subnets), desc='time profile: whole images', unit='subnet', leave=False):
        smaller = interleaved_medians([lambda image=image: runner.run(index, image) for image in images[:-1]],
                                      device, repeats, min)
        largest, *in_tiles = largest_image_times(runner, index, images[-1], tiles, device, min(repeats, LARGE_REPEATS))
        whole.append(tuple(smaller) + (largest,))
        shares.append(tuple(seconds / largest for seconds in in_tiles))
    overhead = patch_overhead(runner, images[-1], device, repeats)
    return TimeProfile(name, size, tuple(calls), tuple(per_patch), overhead, tuple(side * side for side in sides),
                       tuple(whole), runner.tile_pad, tiles, tuple(shares), host_name(device))


def seamless_tiles(runner: 'Runner', image: torch.Tensor, tile_sides: Sequence[int]) -> Tuple[int, ...]:
    """The sizes of ``tile_sides`` smaller than ``image`` in whose tiles (with the runner's margin) the
    full network's output on ``image`` is within a grey level of the whole image's; none for networks
    with :attr:`~wbsr_basicsr.archs.slimmable.SlimmableSupernet.global_context`."""
    if runner.net.global_context:
        return ()
    height, width = image.shape[-2:]
    full = runner.num_subnets - 1
    whole = to_grey_levels(runner.run(full, image))
    seamless = []
    for tile in (side for side in tile_sides if runner.tile_pad < side < min(height, width)):
        output = runner.run_in_tiles(full, image, tiled(height, width, tile, runner.tile_pad))
        if (to_grey_levels(output) - whole).abs().max() <= 1:
            seamless.append(tile)
    return tuple(seamless)


def to_grey_levels(image: torch.Tensor) -> torch.Tensor:
    """An SR output in [0, 1] as the 8-bit grey levels it is saved in."""
    return (image.float().clamp(0, 1) * 255).round()


def largest_image_times(runner: 'Runner', index: int, image: torch.Tensor, tiles: Sequence[int], device: torch.device,
                        repeats: int) -> Tuple[float, ...]:
    """Seconds of subnet ``index`` on ``image`` whole, then in tiles of each of ``tiles`` (with the
    runner's margin), interleaved."""
    height, width = image.shape[-2:]
    windows = [tiled(height, width, tile, runner.tile_pad) for tile in tiles]
    runs = [lambda: runner.run(index, image)] + [lambda pieces=pieces: runner.run_in_tiles(index, image, pieces)
                                                 for pieces in windows]
    return tuple(interleaved_medians(runs, device, repeats, min))


def patch_overhead(runner: 'Runner', image: torch.Tensor, device: torch.device, repeats: int) -> float:
    """Seconds per patch of the runner's work besides the subnets: chopping ``image``, scoring the
    patches as the gradient router does, and merging as many SR patches."""
    layout = runner.layout(image)
    scale = runner.net.upscale
    outputs = torch.zeros(min(layout.count, runner.max_batch), image.shape[1], layout.patch_size * scale,
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


@torch.no_grad()
def rescale_profile(runner: 'Runner', profile: TimeProfile, name: str, repeats: int = 3) -> TimeProfile:
    """``profile``, measured on another device or thread count, carried to this one (``name``) in
    seconds, not minutes: the cheapest, a middle and the full subnet timed on one whole image of
    :data:`RESCALE_SIDE` against the profile's seconds for it, every subnet's seconds scaled by its
    ratio (interpolated between the three), the tiles' shares kept. It predicts less well than a
    measured profile; time budgets correct it further as they run (docs/routing.md, "Closed loop")."""
    device = next(runner.net.parameters()).device
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, runner.net.num_in_ch, RESCALE_SIDE, RESCALE_SIDE, generator=generator).to(device)
    timed = sorted({0, runner.num_subnets // 2, runner.num_subnets - 1})
    seconds = interleaved_medians([lambda index=index: runner.run(index, image) for index in timed], device, repeats,
                                  min)
    predicted = [profile.whole_seconds(index, RESCALE_SIDE ** 2) for index in timed]
    factors = np.interp(np.arange(runner.num_subnets), timed, np.asarray(seconds) / predicted)
    source = profile.device + (f' on {profile.host}' if profile.host else '')
    return replace(profile.scaled(factors), device=name, overhead=profile.overhead * float(factors.mean()),
                   host=host_name(device), rescaled_from=profile.rescaled_from or source)


def cached_profile_path(checksum: str, name: str, host: str) -> Path:
    """Where the time profile of the supernet whose parameters' checksum is ``checksum``, measured on the
    device ``name`` (:func:`device_name`: kind, threads, precision) of the processor ``host``, is kept in the
    user's cache folder."""
    key = hashlib.sha256(f'{name}|{host}'.encode()).hexdigest()[:16]
    return cache_folder('time_profiles', checksum[:32], f'{key}.json')


def cached_profile(path: Path, name: str, host: str, patch_size: int) -> Optional[TimeProfile]:
    """The profile kept at ``path`` if it is one of ``name`` on ``host`` for ``patch_size`` patches (None
    if absent or unreadable: it is then measured again)."""
    try:
        profile = TimeProfile.from_dict(json.loads(path.read_text(encoding='utf-8')))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return profile if (profile.device, profile.host, profile.patch_size) == (name, host, patch_size) else None


def keep_profile(path: Path, profile: TimeProfile) -> None:
    """Write ``profile`` at ``path`` (:func:`cached_profile_path`), atomically, for the next runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(str(path), profile.to_dict())
