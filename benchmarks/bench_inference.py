"""Speed, operators and memory of the inference engine: routed rows against whole-image runs, side by side.

For each LR size (default: 120x80 as B100 at x4, 256x180 as Urban100, 480x480 for 2K output) a
real photo (scikit-image's astronaut) is resized to it and super-resolved by the paper's
MSRResNet x4 supernet (random weights: speed only; ``--widths`` / ``--depths`` for other
subnets; routing thresholds from the image's own patches) with
:class:`wbsr_basicsr.inference.upscaler.Upscaler`, as the inference command runs it: the routed
row at ``--target`` (image scope; ``--flops image``: the target counts every patch run),
``--full`` (the full network on the whole image, through the engine) and BasicSR's own
``MSRResNet`` holding the same weights, run as BasicSR runs it; interleaved, medians of
``--repeats``. Printed per size:

- the paper's per-patch FLOPs ratio and the honest one (every patch run, overlaps included, over
  the full network on the whole image);
- the time ratio against ``--full`` and against BasicSR, and time ratio / honest ratio (goal: at
  most 1.1);
- with ``--subnets``: every subnet on the whole image, and the dearest one that runs in no more
  time than the routed row (what the same time buys without routing);
- the operators PyTorch's profiler counts in one routed call (they no longer grow with the
  number of patches: one gather, one scatter per batch).

``--memory N`` instead runs the inference command on one N x N LR image in a child process and
prints its peak resident memory: at ``--target`` or, with ``--full``, the full network on the whole
image (``--tile T``: in tiles of T LR pixels).

    python benchmarks/bench_inference.py [--sizes 120x80 256x180 480x480] [--target 0.65] [--stride 28]
        [--max-batch 256] [--threads 2] [--repeats 5] [--device cpu|cuda] [--fp16] [--subnets]
        [--widths 36 52 64] [--depths 4 8 16] [--memory 2000 [--full] [--tile 512]]
"""
import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

import wbsr_basicsr  # noqa: F401  (compatibility fixes before basicsr)
from wbsr_basicsr.archs.wbsr_msrresnet_arch import WBSRMSRResNet
from wbsr_basicsr.inference.supernet_entry import LoadedRouting, RoutingGeometry, SupernetEntry
from wbsr_basicsr.inference.upscaler import Runtime, Upscaler
from wbsr_basicsr.routing import RoutingData, router_class
from wbsr_basicsr.routing.gradient_router import DifficultyClasses
from wbsr_basicsr.runtime.patches import PatchLayout, chop
from wbsr_basicsr.utils.clock import interleaved_medians
from wbsr_basicsr.utils.gradient_stats import difficulty_scores, patch_gradient_vectors

REPO = Path(__file__).resolve().parents[1]


def photo(width: int, height: int) -> torch.Tensor:
    from skimage import data
    rgb = cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.


def own_router(image: torch.Tensor, patch_size: int, stride: int) -> DifficultyClasses:
    layout = PatchLayout.cover(image.shape[-2], image.shape[-1], patch_size, stride)
    scores = difficulty_scores(patch_gradient_vectors(chop(image, layout))).cpu().numpy()
    return DifficultyClasses.from_scores(scores, 10, patch_size, stride)


def operators(upscaler: Upscaler, image: torch.Tensor, row) -> int:
    """Operators PyTorch's profiler records in one routed call (after a warm-up)."""
    upscaler.upscale(image, row)
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        upscaler.upscale(image, row)
    return sum(event.count for event in profiler.key_averages())


def whole_subnet_times(upscaler: Upscaler, image: torch.Tensor, device: torch.device,
                       repeats: int) -> Dict[Tuple[int, int], float]:
    rows = [router_class('whole')(subnet=subnet) for subnet in upscaler.net.subnets]
    times = interleaved_medians([lambda row=row: upscaler.upscale(image, row) for row in rows], device, repeats)
    return dict(zip(upscaler.net.subnets, times))


def same_time(times: Dict[Tuple[int, int], float], seconds: float, net: WBSRMSRResNet,
              size: Tuple[int, int]) -> str:
    """The dearest subnet whose whole-image run takes no more than ``seconds``."""
    fitting = [subnet for subnet, spent in times.items() if spent <= seconds]
    if not fitting:
        return 'no subnet on the whole image is as fast'
    best = max(fitting, key=lambda subnet: net.flops(subnet, size))
    share = net.flops(best, size) / net.flops(None, size)
    return f'the same time runs {best[0]}x{best[1]} on the whole image ({share:.3f} of the FLOPs)'


def speed(args: argparse.Namespace, net: WBSRMSRResNet, plain: torch.nn.Module, size: Tuple[int, int]) -> None:
    device = torch.device(args.device)
    image = photo(*size).to(device)
    loaded = LoadedRouting(RoutingData.of(own_router(image, args.patch, args.stride)),
                           RoutingGeometry(args.patch, args.stride))
    upscaler = Upscaler(net, loaded, 4, Runtime(args.device, args.fp16, args.max_batch))
    routed = router_class('target_flops')(target=args.target, scope='image', budget_unit=f'{args.flops}_flops')
    full = router_class('whole')(subnet=net.full_subnet)
    result = upscaler.upscale(image, routed)

    def plain_full() -> torch.Tensor:
        with torch.no_grad(), upscaler.autocast():
            return plain(image)

    plain_s, full_s, routed_s = interleaved_medians(
        [plain_full, lambda: upscaler.upscale(image, full), lambda: upscaler.upscale(image, routed)], device,
        args.repeats)
    honest = result.honest_percent / 100
    print(f'{size[0]:>4}x{size[1]:<4} {len(result.subnet_ids):>5} patches  per-patch {result.flops_percent / 100:.3f}  '
          f'honest {honest:.3f}  routed {routed_s * 1e3:.1f} ms | --full {full_s * 1e3:.1f} ms: time ratio '
          f'{routed_s / full_s:.3f}, time/honest {routed_s / full_s / honest:.3f} | plain BasicSR {plain_s * 1e3:.1f} ms: '
          f'time ratio {routed_s / plain_s:.3f} | {operators(upscaler, image, routed)} operators per routed call')
    if args.subnets:
        times = whole_subnet_times(upscaler, image, device, args.repeats)
        print('           whole image: ' + ', '.join(f'{w}x{d} {1e3 * t:.1f} ms' for (w, d), t in times.items()))
        print(f'           {same_time(times, routed_s, net, (size[1], size[0]))}')


def memory(args: argparse.Namespace, net: WBSRMSRResNet, network: Dict) -> None:
    image = photo(args.memory, args.memory)
    router = own_router(image, args.patch, args.stride)
    with tempfile.TemporaryDirectory() as folder:
        entry = SupernetEntry(network, 4, tuple(net.subnets), router)
        torch.save(entry.store({'params': net.state_dict()}), f'{folder}/net.pth')
        rgb = (image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        cv2.imwrite(f'{folder}/lr.png', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        row = ['--full'] + (['--tile', str(args.tile)] if args.tile else []) if args.full else [
            '--target', str(args.target), '--max-batch', str(args.max_batch), '--ladder', 'full']
        command = [sys.executable, str(REPO / 'inference' / 'inference_wbsr.py'), '-i', f'{folder}/lr.png', '-o',
                   f'{folder}/out', '--model', f'{folder}/net.pth', '--device', args.device, *row]
        subprocess.run(command, check=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f'inference_wbsr.py, {args.memory}x{args.memory} LR -> {4 * args.memory}x{4 * args.memory}, '
          f'{" ".join(row)}: peak resident memory {peak:.0f} MiB')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', nargs='+', default=['120x80', '256x180', '480x480'], help='LR sizes WxH')
    parser.add_argument('--target', type=float, default=0.65)
    parser.add_argument('--flops', choices=('image', 'patch'), default='image',
                        help="what --target counts, as inference_wbsr.py's --flops")
    parser.add_argument('--patch', type=int, default=32, help='routing patch size')
    parser.add_argument('--stride', type=int, default=28)
    parser.add_argument('--max-batch', type=int, default=256)
    parser.add_argument('--threads', type=int, default=2, help='torch threads, the same for every side')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--fp16', action='store_true', help='half precision under CUDA autocast, every side')
    parser.add_argument('--subnets', action='store_true', help='also time every subnet on the whole image')
    parser.add_argument('--widths', type=int, nargs='+', default=[36, 52, 64], help='the supernet\'s widths')
    parser.add_argument('--depths', type=int, nargs='+', default=[4, 8, 16], help='the supernet\'s depths')
    parser.add_argument('--memory', type=int, help='instead: peak memory of the command on one N x N LR image')
    parser.add_argument('--full', action='store_true', help='with --memory: the full network on the whole image')
    parser.add_argument('--tile', type=int, help='with --memory --full: tiles of this many LR pixels')
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    network = dict(type='WBSRMSRResNet', num_in_ch=3, num_out_ch=3, num_feat=max(args.widths),
                   num_block=max(args.depths), upscale=4, widths=args.widths, depths=args.depths)
    net = WBSRMSRResNet(**{k: v for k, v in network.items() if k != 'type'}).eval()
    if args.memory:
        memory(args, net, network)
        return
    plain = net.extract_subnet(None).eval().to(args.device)  # BasicSR's MSRResNet with the full network's weights
    print(f'MSRResNet x4 supernet (widths {args.widths}, depths {args.depths}), {args.device}'
          f'{" fp16" if args.fp16 else ""}, torch threads {torch.get_num_threads()}, --target {args.target} '
          f'--flops {args.flops}, patches {args.patch} every {args.stride}, max batch {args.max_batch}; '
          f'medians of {args.repeats}, interleaved')
    for size in args.sizes:
        width, height = (int(v) for v in size.split('x'))
        speed(args, net, plain, (width, height))


if __name__ == '__main__':
    main()
