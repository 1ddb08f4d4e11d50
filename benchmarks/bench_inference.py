"""Speed and memory of inference_wbsr.py's engine: ``--target`` against ``--full``, side by side.

For each LR size (default: 120x80 as B100 at x4, 256x180 as Urban100, 480x480 for 2K output) a
real photo (scikit-image's astronaut) is resized to it and super-resolved by the paper's
MSRResNet x4 supernet (random weights: speed only; routing thresholds from the image's own
patches) with :class:`wbsr_basicsr.models.upscaler.Upscaler`: the routed row at ``--target``
(image scope; ``--flops image``: the target counts every patch run, as the command's default)
and the full network on the whole image, interleaved, medians of ``--repeats``.
Printed per size: the paper's per-patch FLOPs ratio, the honest FLOPs ratio (every patch run,
overlaps included, over the full network on the whole image), the time ratio, and time ratio /
honest ratio (goal: at most 1.15, and a time ratio below 1), against ``--full`` (the full
network on the whole image, in the command's channels-last format) and against BasicSR's own
``MSRResNet`` holding the same weights, run as BasicSR runs it (contiguous tensors).

``--memory N`` instead runs inference_wbsr.py on one N x N LR image in a child process and
prints its peak resident memory.

    python benchmarks/bench_inference.py [--sizes 120x80 256x180 480x480] [--target 0.65] [--stride 28]
        [--max-batch 256] [--threads 2] [--repeats 5] [--memory 2000]
"""
import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Tuple

import cv2
import numpy as np
import torch

import wbsr_basicsr  # noqa: F401  (compatibility fixes before basicsr)
from timing import interleaved_medians
from wbsr_basicsr.archs.wbsr_msrresnet_arch import WBSRMSRResNet
from wbsr_basicsr.inference.checkpoint import LoadedRouting, RoutingGeometry, SupernetEntry
from wbsr_basicsr.inference.patches import PatchLayout, chop
from wbsr_basicsr.inference.upscaler import Upscaler
from wbsr_basicsr.routing import RoutingData, router_class
from wbsr_basicsr.routing.gradient_router import DifficultyClasses
from wbsr_basicsr.utils.gradient_stats import difficulty_scores, patch_gradient_vectors

REPO = Path(__file__).resolve().parents[1]
NETWORK = dict(type='WBSRMSRResNet', num_in_ch=3, num_out_ch=3, num_feat=64, num_block=16, upscale=4)


def photo(width: int, height: int) -> torch.Tensor:
    from skimage import data
    rgb = cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.


def own_router(net: WBSRMSRResNet, image: torch.Tensor, stride: int) -> DifficultyClasses:
    layout = PatchLayout.cover(image.shape[-2], image.shape[-1], 32, stride)
    scores = difficulty_scores(patch_gradient_vectors(chop(image, layout))).numpy()
    return DifficultyClasses.from_scores(scores, 10, 32, stride)


def speed(args: argparse.Namespace, net: WBSRMSRResNet, plain: torch.nn.Module, size: Tuple[int, int]) -> None:
    image = photo(*size)
    loaded = LoadedRouting(RoutingData(own_router(net, image, args.stride)), RoutingGeometry(32, args.stride))
    upscaler = Upscaler(net, loaded, 4, max_batch=args.max_batch, budget=args.flops)
    routed = router_class('target_flops')(target=args.target, scope='image')
    full = router_class('whole')(subnet=net.full_subnet)
    result = upscaler.upscale(image, routed)

    def plain_full() -> torch.Tensor:
        with torch.no_grad():
            return plain(image)

    plain_s, full_s, routed_s = interleaved_medians(
        [plain_full, lambda: upscaler.upscale(image, full), lambda: upscaler.upscale(image, routed)],
        torch.device('cpu'), args.repeats)
    honest = result.honest_percent / 100
    print(f'{size[0]:>4}x{size[1]:<4} {len(result.subnet_ids):>5} patches  per-patch {result.flops_percent / 100:.3f}  '
          f'honest {honest:.3f}  routed {routed_s:.3f} s | --full {full_s:.3f} s: time ratio {routed_s / full_s:.3f}, '
          f'time/honest {routed_s / full_s / honest:.3f} | plain BasicSR {plain_s:.3f} s: time ratio '
          f'{routed_s / plain_s:.3f}, time/honest {routed_s / plain_s / honest:.3f}')


def memory(args: argparse.Namespace, net: WBSRMSRResNet) -> None:
    image = photo(args.memory, args.memory)
    router = own_router(net, image, args.stride)
    with tempfile.TemporaryDirectory() as folder:
        entry = SupernetEntry(NETWORK, 4, tuple(net.subnets), router)
        torch.save(entry.store({'params': net.state_dict()}), f'{folder}/net.pth')
        rgb = (image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        cv2.imwrite(f'{folder}/lr.png', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        command = [sys.executable, str(REPO / 'inference' / 'inference_wbsr.py'), '-i', f'{folder}/lr.png', '-o',
                   f'{folder}/out', '--model', f'{folder}/net.pth', '--target', str(args.target),
                   '--max-batch', str(args.max_batch), '--ladder', 'full']
        subprocess.run(command, check=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f'inference_wbsr.py, {args.memory}x{args.memory} LR -> {4 * args.memory}x{4 * args.memory}, --target '
          f'{args.target} --max-batch {args.max_batch}: peak resident memory {peak:.0f} MiB')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', nargs='+', default=['120x80', '256x180', '480x480'], help='LR sizes WxH')
    parser.add_argument('--target', type=float, default=0.65)
    parser.add_argument('--flops', choices=('image', 'patch'), default='image',
                        help="what --target counts, as inference_wbsr.py's --flops")
    parser.add_argument('--stride', type=int, default=28)
    parser.add_argument('--max-batch', type=int, default=256)
    parser.add_argument('--threads', type=int, default=2, help='torch threads, the same for both sides')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--memory', type=int, help='instead: peak memory of the command on one N x N LR image')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = WBSRMSRResNet(**{k: v for k, v in NETWORK.items() if k != 'type'}).eval()
    plain = net.extract_subnet(None).eval()  # BasicSR's MSRResNet with the full network's weights
    if args.memory:
        memory(args, net)
        return
    print(f'MSRResNet x4 supernet (paper size), CPU, torch threads {torch.get_num_threads()}, --target {args.target} '
          f'--flops {args.flops}, stride {args.stride}, max batch {args.max_batch}; medians of {args.repeats}, '
          'interleaved')
    for size in args.sizes:
        width, height = (int(v) for v in size.split('x'))
        speed(args, net, plain, (width, height))


if __name__ == '__main__':
    main()
