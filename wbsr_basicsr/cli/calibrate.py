"""Calibrate routing for a trained WBSR supernet and store it in the checkpoint.

    wbsr-calibrate (or python scripts/calibrate_routing.py) --model experiments/<name>/models/net_g_latest.pth \\
        --gt datasets/DIV2K/DIV2K_train_HR_sub.lmdb --lq datasets/DIV2K/DIV2K_train_LR_bicubic_X4_sub.lmdb \\
        [--max-images N] [--output calibrated.pth] [-opt train_options.yml] [--device cuda [--fp16]]
    wbsr-calibrate --model net_g_latest.pth --time-only --device cuda --fp16

Every subnet runs on every LR patch of the pairs (``--gt`` / ``--lq``: two LMDBs, or two folders
of images with the same names); each patch's PSNR under each subnet gives ARM's edge-score
table (rows ``{mode: arm, target: R}``) and the Pareto ladder (``ladder: pareto``). Use pairs
disjoint from the sets you will test on: the training LMDBs of ``prepare_div2k.py`` are. Then
each subnet is timed on ``--device`` (a time profile, for budgets in time: ``--target-time``,
``unit: time``); ``--time-only`` adds or renews that device's profile alone. Both go into the
checkpoint's ``wbsr`` entry (``--output``, default: the checkpoint itself, rewritten
atomically); the calibration is valid for those parameters only, the profile for that device.
"""
import argparse
import sys
from pathlib import Path
from typing import Iterator, Optional, Tuple

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

import wbsr_basicsr  # noqa: F401  (compatibility fixes and registries before basicsr's data)
from basicsr.data.paired_image_dataset import PairedImageDataset
from wbsr_basicsr.archs.slimmable import SlimmableSupernet
from wbsr_basicsr.inference.calibrate import calibrate
from wbsr_basicsr.inference.checkpoint import LoadedRouting, RoutingGeometry, SupernetEntry, load_supernet
from wbsr_basicsr.inference.upscaler import Runtime, Upscaler
from wbsr_basicsr.routing import RoutingData
from wbsr_basicsr.routing.calibration import Calibration
from wbsr_basicsr.routing.timing import TimeProfile
from wbsr_basicsr.utils.atomic import write_atomically
from wbsr_basicsr.utils.checkpoints import state_checksum
from wbsr_basicsr.utils.options import network_options


def paired_dataset(gt: str, lq: str, scale: int) -> PairedImageDataset:
    """BasicSR's paired dataset over two LMDBs or two folders."""
    lmdb = [path.rstrip('/').endswith('.lmdb') for path in (gt, lq)]
    if lmdb[0] != lmdb[1]:
        raise ValueError(f'--gt {gt} and --lq {lq}: give two LMDBs or two folders, not one of each.')
    for path in (gt, lq):
        if not Path(path).is_dir():
            raise ValueError(f'{path}: no such folder or LMDB.')
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
    return '\n'.join(lines)


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', required=True, help='a WBSR checkpoint (net_g_*.pth)')
    parser.add_argument('--gt', help='HR images: an LMDB or a folder')
    parser.add_argument('--lq', help='their LR images: an LMDB or a folder')
    parser.add_argument('--output', help='where to write the calibrated checkpoint (default: --model)')
    parser.add_argument('--max-images', type=int, help='use this many images, evenly spaced (default: all)')
    parser.add_argument('--param-key', default='params', help="the checkpoint's parameters to calibrate")
    parser.add_argument('-opt', help="an option file whose network_g builds the network, for checkpoints that do "
                                     'not record it')
    parser.add_argument('--max-batch', type=int, default=256, help='patches per forward')
    parser.add_argument('--device', default='cpu', help='where to time the subnets: cpu (default) or cuda[:N]')
    parser.add_argument('--fp16', action='store_true', help='time them in half precision (CUDA autocast)')
    parser.add_argument('--time-only', action='store_true', help="only (re)measure --device's time profile")
    args = parser.parse_args(argv)
    if not args.time_only and not (args.gt and args.lq):
        parser.error('--gt and --lq are required (unless --time-only).')
    try:
        net, content, entry = load_supernet(args.model, network_options(args.opt), args.param_key)
        if entry.thresholds is None:
            raise ValueError(f'{args.model}: no routing thresholds, so no patch size and stride to calibrate for.')
        if not args.time_only:
            entry = entry.with_calibration(measure_calibration(args, net, entry, content))
            print(describe(entry.calibration, net.subnet_costs((entry.thresholds.patch_size,) * 2)))
        upscaler = Upscaler(net, LoadedRouting(RoutingData(entry.thresholds), RoutingGeometry(
            entry.thresholds.patch_size, entry.thresholds.stride)), entry.scale or net.upscale,
            Runtime(args.device, args.fp16, args.max_batch), args.model)
        profile = upscaler.measure_time_profile()
        entry = entry.with_timing(profile)
        print(describe_timing(profile, net))
    except ValueError as error:
        print(f'calibrate_routing: {error}', file=sys.stderr)
        return 2
    content = entry.store(content)
    output = args.output or args.model
    write_atomically(output, lambda tmp_path: torch.save(content, tmp_path))
    print(f'{"time profile" if args.time_only else "calibration and time profile"} written to {output}')
    return 0


def measure_calibration(args: argparse.Namespace, net: SlimmableSupernet, entry: SupernetEntry,
                        content: dict) -> Calibration:
    """Every subnet on every patch of ``--max-images`` pairs of ``--gt`` / ``--lq``."""
    thresholds, scale = entry.thresholds, entry.scale or net.upscale
    dataset = paired_dataset(args.gt, args.lq, scale)
    count = len(dataset) if args.max_images is None else min(args.max_images, len(dataset))
    if count < 1:
        raise ValueError(f'{args.gt}: no image pairs.')
    indices = np.unique(np.linspace(0, len(dataset) - 1, count).round().astype(int))
    with torch.no_grad():
        return calibrate(net, pairs(dataset, indices), scale, thresholds.patch_size, thresholds.stride,
                         state_checksum(content[args.param_key]), f'{args.gt} ({len(indices)} images)', args.max_batch)


def describe_timing(profile: TimeProfile, net: SlimmableSupernet) -> str:
    """Each subnet's measured cost per patch and on the largest whole image timed, as shares of the full network's."""
    side = int(round(profile.pixels[-1] ** 0.5))
    lines = [f'time profile on {profile.device} ({profile.overhead * 1e3:.3f} ms per patch of chop, scoring and '
             'merge):']
    for index, subnet in enumerate(net.subnets):
        lines.append(f'  {subnet[0]}x{subnet[1]:<4} {profile.patch[index] * 1e3:8.3f} ms per patch '
                     f'({profile.patch[index] / profile.patch[-1]:5.2f} of the full), {side}x{side} whole image '
                     f'{profile.whole[index][-1] * 1e3:8.1f} ms '
                     f'({profile.whole[index][-1] / profile.whole[-1][-1]:5.2f})')
    return '\n'.join(lines)


if __name__ == '__main__':
    sys.exit(main())
