"""Whole images in the tiles the time profile measured faster: are they, and is the output the same?

    python benchmarks/bench_whole_tiling.py -n WBSR_MSRResNet_x4_291 --photos <a folder of HR photos> \\
        [--sizes 512x512 960x640 1920x1280] [--threads 2] [--repeats 2]

Per LR size (a mosaic of the photos, as ``bench_plan_map.py`` makes it) and per subnet of the
planner's ladder: one subnet on the whole image untiled (``-t 0``) against the same run in the
tiles the profile chose for it (the default; ``TimeProfile.faster_tile``), timed interleaved, the
least of ``--repeats`` runs, and the largest difference between the two outputs in grey levels.
"""
import argparse
import sys
from pathlib import Path

import torch

from bench_plan_map import lr_photos, mosaic

import wbsr_basicsr  # noqa: F401  (compatibility fixes before basicsr)
from wbsr_basicsr.runtime.timing import to_grey_levels
from wbsr_basicsr.inference.upscaler import Runtime, Upscaler
from wbsr_basicsr.routing import router_class
from wbsr_basicsr.runtime.timing import TimeProfile
from wbsr_basicsr.utils.clock import interleaved_medians
from wbsr_basicsr.zoo import model_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-n', '--model-name', default='WBSR_MSRResNet_x4_291')
    parser.add_argument('--model', help='a checkpoint instead of a shipped name')
    parser.add_argument('--photos', type=Path, required=True, help='a folder of HR photos (PNG, JPEG, BMP)')
    parser.add_argument('--sizes', nargs='+', default=['512x512', '960x640', '1920x1280'])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = args.model or str(model_path(args.model_name))
    tiled, untiled = (Upscaler.from_checkpoint(model, Runtime('cpu', tile=tile)) for tile in (None, 0))
    timing = tiled.routing.get(TimeProfile)
    if timing is None:
        raise SystemExit(f'{model} holds no time profile for {tiled.device_name}: wbsr-calibrate --time-only first.')
    photos = lr_photos(args.photos, tiled.scale)
    subnets = tiled.net.subnets
    ladder = tiled.engine.planner(router_class('plan')(target=1.)).ladder
    print(f'{model}, {tiled.device_name} (profile measured on {timing.host or "an unrecorded processor"}), least of '
          f'{args.repeats} interleaved runs\n\n| LR size | subnet | tiles | untiled s | tiled s | tiled / untiled | '
          'max grey-level difference |\n|---|---|---|---|---|---|---|')
    for size in args.sizes:
        width, height = map(int, size.split('x'))
        lq = mosaic(photos, width, height)
        for index in ladder:
            row = router_class('whole')(subnet=subnets[index])
            tiles = tiled.engine.runner.tiles(height, width, index)
            side = f'{tiles.regions[0, 2] - tiles.regions[0, 0]} x{tiles.count}' if tiles.count > 1 else 'none'
            outputs = [upscaler.upscale(lq, row).sr for upscaler in (untiled, tiled)]
            grey = (to_grey_levels(outputs[0]) - to_grey_levels(outputs[1])).abs().max().item()
            seconds = interleaved_medians([lambda upscaler=upscaler: upscaler.upscale(lq, row)
                                           for upscaler in (untiled, tiled)], tiled.device, args.repeats, min)
            print(f'| {size} | {subnets[index][0]}x{subnets[index][1]} | {side} | {seconds[0]:.2f} | '
                  f'{seconds[1]:.2f} | {seconds[1] / seconds[0]:.2f} | {grey:.0f} |', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
