"""Do budgets in time hold on images the time profile never saw? The measured time of a row held to
``--targets`` of the full network's time (``budget_unit: time``, image scope) against the full network on
the whole image, image by image, interleaved, as the inference command runs them.

    python benchmarks/bench_time_budget.py --model calibrated.pth --images bench/Set14/LRbicx4 \\
        [--targets 0.5 0.65 0.8] [--threads 2] [--repeats 3] [--device cpu] [--max-batch 32]

The checkpoint's time profile for this device is used (``scripts/calibrate_routing.py`` stores
one; without it, one is measured first and said so). Printed per target: each image's measured
time ratio (routed / full network on the whole image, the least of ``--repeats`` interleaved
runs each, as the profile measures), the predicted one, and the subnet it ran on the whole image
if routing could not beat it in the time; then the mean measured ratio and its error against
the target.
"""
import argparse
import statistics
from pathlib import Path

import torch

import wbsr_basicsr  # noqa: F401  (compatibility fixes before basicsr)
from wbsr_basicsr.inference.rows import default_ladder
from wbsr_basicsr.inference.upscaler import Runtime, Upscaler
from wbsr_basicsr.routing import router_class
from wbsr_basicsr.runtime.timing import TimeProfile
from wbsr_basicsr.utils.clock import interleaved_medians
from wbsr_basicsr.utils.image_io import read_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', required=True, help='a WBSR checkpoint, calibrated (for the quality comparison)')
    parser.add_argument('--images', type=Path, required=True, help='a folder of LR images')
    parser.add_argument('--targets', type=float, nargs='+', default=[0.5, 0.65, 0.8])
    parser.add_argument('--threads', type=int, default=2, help='torch threads (the profile is for this many)')
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--max-batch', type=int, default=32, help="as the inference command's default")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    upscaler = Upscaler.from_checkpoint(args.model, Runtime(args.device, max_batch=args.max_batch))
    if upscaler.routing.get(TimeProfile) is None:
        print(f'{args.model} holds no time profile for {upscaler.device_name}: measuring one')
        upscaler.measure_time_profile()
    ladder = default_ladder(upscaler.routing)
    full = router_class('whole')(subnet=upscaler.net.full_subnet)
    images = [(path.name, read_image(str(path)).rgb) for path in sorted(args.images.iterdir())]
    print(f'{args.model} on {upscaler.device_name}, {ladder} ladder, {len(images)} images of {args.images}, '
          f'least of {args.repeats} interleaved runs')
    for target in args.targets:
        row = router_class('target_flops')(target=target, scope='image', budget_unit='time', ladder=ladder)
        ratios = []
        for name, image in images:
            result = upscaler.upscale(image, row)
            full_s, routed_s = interleaved_medians([lambda: upscaler.upscale(image, full),
                                                    lambda: upscaler.upscale(image, row)], upscaler.device,
                                                   args.repeats, min)
            ratios.append(routed_s / full_s)
            fallback = '' if result.whole_subnet is None else f'  whole image: {result.whole_subnet[0]}x' \
                                                              f'{result.whole_subnet[1]}'
            print(f'  {target:g}  {name:<14} {image.shape[-1]:>4}x{image.shape[-2]:<4} measured {ratios[-1]:.3f}  '
                  f'predicted {result.time_share:.3f}{fallback}')
        mean = statistics.mean(ratios)
        print(f'target {target:g}: mean measured ratio {mean:.3f} ({100 * (mean - target) / target:+.1f}% of the '
              f'target), images {min(ratios):.3f} to {max(ratios):.3f}')


if __name__ == '__main__':
    main()
