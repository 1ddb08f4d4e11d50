"""The work of ``wbsr-calibrate`` (arguments and usage: ``wbsr_cli/calibrate.py``): every subnet on
every patch of the calibration pairs (ARM's table, the Pareto ladder), then each subnet timed on
the device (the time profile), both stored in the checkpoint's ``wbsr`` entry.
"""
import argparse
from pathlib import Path
from typing import Iterator, Tuple

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

import wbsr_basicsr  # noqa: F401  (compatibility fixes and registries before basicsr's data)
from basicsr.data.paired_image_dataset import PairedImageDataset
from wbsr_basicsr.archs.slimmable import SlimmableSupernet
from wbsr_basicsr.inference.supernet_entry import LoadedRouting, RoutingGeometry, SupernetEntry, load_supernet
from wbsr_basicsr.inference.upscaler import Runtime, Upscaler
from wbsr_basicsr.routing import RoutingData
from wbsr_basicsr.routing.calibration import Calibration
from wbsr_basicsr.routing.measure_calibration import measure_calibration
from wbsr_basicsr.runtime.timing import TimeProfile
from wbsr_basicsr.utils.atomic import write_atomically
from wbsr_basicsr.utils.checkpoints import state_checksum
from wbsr_basicsr.utils.options import network_options
from wbsr_basicsr.zoo import check_outside_package, model_path
from wbsr_cli.jobs.errors import one_line_errors


def paired_dataset(gt: str, lq: str, scale: int) -> PairedImageDataset:
    """BasicSR's paired dataset over two LMDBs or two folders."""
    lmdb = [path.rstrip('/').endswith('.lmdb') for path in (gt, lq)]
    if lmdb[0] != lmdb[1]:
        raise ValueError(f'--gt {gt} and --lq {lq}: give two LMDBs or two folders, not one of each.')
    for path in (gt, lq):
        if not Path(path).is_dir():
            raise ValueError(f'{path}: no such folder or LMDB.')
    if not lmdb[0]:
        names = [{entry.name for entry in Path(path).iterdir() if entry.is_file()} for path in (gt, lq)]
        unpaired = sorted(names[0] ^ names[1])
        if unpaired:
            raise ValueError(f'--gt {gt} and --lq {lq}: {len(unpaired)} image(s) in one folder only '
                             f'(e.g. {unpaired[0]}); give the same names in both.')
    return PairedImageDataset({'name': 'calibration', 'dataroot_gt': gt, 'dataroot_lq': lq, 'phase': 'val',
                               'scale': scale, 'io_backend': {'type': 'lmdb' if lmdb[0] else 'disk'}})


def pairs(dataset: PairedImageDataset, indices: np.ndarray) -> Iterator[Tuple[Tensor, Tensor]]:
    for index in tqdm(indices, unit='image', desc='calibration'):
        item = dataset[int(index)]
        yield item['lq'][None], item['gt'][None]


def describe(calibration: Calibration, costs: np.ndarray) -> str:
    ladder = calibration.pareto_ladder()
    lines = [f'{calibration.patches} patches from {calibration.source}; mean patch PSNR per subnet '
             '(* on the Pareto ladder):']
    for index, (subnet, psnr) in enumerate(zip(calibration.subnets, calibration.mean_psnr)):
        mark = '*' if index in ladder else ' '
        lines.append(f'  {mark} {subnet[0]}x{subnet[1]:<4} {100 * costs[index] / costs.max():5.1f}% FLOPs  '
                     f'{psnr:.3f} dB')
    if calibration.gain_error is not None:
        lines.append(f'quality model: an image\'s predicted gain of one subnet over another is off by '
                     f'{calibration.gain_error:.3f} dB (RMS, on the images held out of '
                     f'{calibration.quality.folds} fits)')
    return '\n'.join(lines)


def run(args: argparse.Namespace, name: str) -> int:
    """``wbsr-calibrate`` with parsed ``args``; errors are one line starting with ``name``."""
    return one_line_errors(name, lambda: calibrate_checkpoint(args), 'nothing was written.')


def calibrate_checkpoint(args: argparse.Namespace) -> None:
    checkpoint = args.model or model_path(args.model_name)
    output = args.output or checkpoint
    check_outside_package(output, '--output' if args.output else
                          f'{f"-n {args.model_name}" if args.model_name else "--model"} without --output')
    net, content, entry = load_supernet(checkpoint, network_options(args.opt), args.param_key)
    if entry.thresholds is None:
        raise ValueError(f'{checkpoint}: no routing thresholds, so no patch size and stride to calibrate for.')
    if not args.time_only:
        entry = entry.with_calibration(calibrate_on_pairs(args, net, entry, content))
        print(describe(entry.calibration, net.subnet_costs((entry.thresholds.patch_size,) * 2)))
    if not args.routing_only:
        entry = entry.with_timing(measure_profile(args, net, entry, checkpoint))
    content = entry.store(content)
    write_atomically(output, lambda tmp_path: torch.save(content, tmp_path))
    stored = ('time profile' if args.time_only else 'calibration' if args.routing_only
              else 'calibration and time profile')
    print(f'{stored} written to {output}')


def measure_profile(args: argparse.Namespace, net: SlimmableSupernet, entry: SupernetEntry,
                    checkpoint: str) -> TimeProfile:
    """Each subnet timed on ``--device`` (the time profile), described."""
    upscaler = Upscaler(net, LoadedRouting(RoutingData.of(entry.thresholds), RoutingGeometry(
        entry.thresholds.patch_size, entry.thresholds.stride)), entry.scale or net.upscale,
        Runtime(args.device, args.fp16, args.max_batch), checkpoint)
    profile = upscaler.measure_time_profile()
    print(describe_timing(profile, net))
    return profile


def calibrate_on_pairs(args: argparse.Namespace, net: SlimmableSupernet, entry: SupernetEntry,
                       content: dict) -> Calibration:
    """Every subnet on every patch of ``--max-images`` pairs of ``--gt`` / ``--lq``."""
    thresholds, scale = entry.thresholds, entry.scale or net.upscale
    dataset = paired_dataset(args.gt, args.lq, scale)
    count = len(dataset) if args.max_images is None else min(args.max_images, len(dataset))
    if count < 1:
        raise ValueError(f'{args.gt}: no image pairs.')
    indices = np.unique(np.linspace(0, len(dataset) - 1, count).round().astype(int))
    with torch.no_grad():
        return measure_calibration(net, pairs(dataset, indices), scale, thresholds.patch_size, thresholds.stride,
                                   state_checksum(content[args.param_key]), f'{args.gt} ({len(indices)} images)',
                                   args.max_batch)


def describe_timing(profile: TimeProfile, net: SlimmableSupernet) -> str:
    """Each subnet's measured cost per patch and on the largest whole image timed, as shares of the full
    network's, and the tiles it runs images that large in, if faster."""
    side = int(round(profile.pixels[-1] ** 0.5))
    lines = [f'time profile on {profile.device}{f" ({profile.host})" if profile.host else ""} '
             f'({profile.overhead * 1e3:.3f} ms per patch of chop, scoring and merge):']
    for index, subnet in enumerate(net.subnets):
        tile = profile.faster_tile(index, profile.pixels[-1])
        tiles = '' if tile is None else (f', in tiles of {tile} '
                                         f'{profile.tiled[index][profile.tile_sides.index(tile)]:.2f} of that')
        lines.append(f'  {subnet[0]}x{subnet[1]:<4} {profile.patch[index] * 1e3:8.3f} ms per patch '
                     f'({profile.patch[index] / profile.patch[-1]:5.2f} of the full), {side}x{side} whole image '
                     f'{profile.whole[index][-1] * 1e3:8.1f} ms '
                     f'({profile.whole[index][-1] / profile.whole[-1][-1]:5.2f}){tiles}')
    return '\n'.join(lines)
