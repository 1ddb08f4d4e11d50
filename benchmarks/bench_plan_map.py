"""Where do the paper's patches pay? Per LR size and time budget, each routing unit's plan (the whole
image, tiles of 160, the paper's patches) against one subnet on the whole image, in measured time.

    python benchmarks/bench_plan_map.py -n WBSR_MSRResNet_x4_291 --photos <a folder of HR photos> \\
        [--sizes 120x80 240x160 480x320 960x640 1920x1280] [--targets 0.5 0.65 0.8] [--threads 2] [--repeats 2]

Each LR size is a mosaic of the photos, each downscaled by the model's scale (area), so that every
size holds LR content of a real photo's density, not one photo stretched. Timed, interleaved, the
least of ``--repeats`` runs: the
full network, every subnet of the planner's ladder on the whole image, and each unit's plan at each
target. Quality is what the planner predicts (the calibration's edge table), since no paired set
that large is at hand: per plan, its predicted PSNR against the whole-image subnets' frontier (their
predicted PSNR, interpolated at the plan's measured time). docs/results.md ("Plans") sets this
beside what the same comparison measured with GT on Set5 and Set14 (``bench_plans.py``).
"""
import argparse
import itertools
import sys
from pathlib import Path
from typing import List

import cv2
import numpy as np
import torch

import wbsr_basicsr  # noqa: F401  (compatibility fixes before basicsr)
from wbsr_basicsr.inference.upscaler import Runtime, Upscaler
from wbsr_basicsr.routing import router_class
from wbsr_basicsr.routing.frontier import frontier_at
from wbsr_basicsr.runtime.timing import TimeProfile
from wbsr_basicsr.utils.clock import interleaved_medians
from wbsr_basicsr.zoo import model_path

UNITS = ('image', 'tile160', 'patch')


def lr_photos(folder: Path, scale: int) -> List[np.ndarray]:
    """The RGB photos of ``folder``, each downscaled by ``scale`` (area)."""
    photos = [cv2.imread(str(path)) for path in sorted(folder.iterdir())
              if path.suffix.lower() in ('.png', '.jpg', '.jpeg', '.bmp')]
    photos = [cv2.cvtColor(cv2.resize(photo, (photo.shape[1] // scale, photo.shape[0] // scale),
                                      interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
              for photo in photos if photo is not None]
    if not photos:
        raise SystemExit(f'{folder}: no photos.')
    return photos


def mosaic(photos: List[np.ndarray], width: int, height: int) -> torch.Tensor:
    """``(1, 3, height, width)`` in [0, 1]: the RGB ``photos`` side by side, row after row (again from the
    first when they run out), cropped."""
    rows, row = [], []
    for photo in itertools.cycle(photos):
        row.append(photo)
        if sum(p.shape[1] for p in row) >= width:
            strip = min(p.shape[0] for p in row)
            rows.append(np.concatenate([p[:strip] for p in row], 1)[:, :width])
            row = []
            if sum(r.shape[0] for r in rows) >= height:
                break
    rgb = np.ascontiguousarray(np.concatenate(rows, 0)[:height])
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255


def measure(upscaler: Upscaler, lq: torch.Tensor, targets: List[float], repeats: int) -> List[str]:
    """One LR size: the table lines of every unit at every target."""
    planner = upscaler.engine.planner(router_class('plan')(target=1., units=list(UNITS)))
    priced = planner.price(lq)
    image_values = priced.options[0].value[0]  # the image unit: one piece, each subnet's predicted PSNR
    ladder = planner.ladder
    rows = {f'whole {m}': router_class('whole')(subnet=upscaler.net.subnets[m]) for m in ladder}
    rows.update({f'{unit} {target:g}': router_class('plan')(target=target, scope='image', units=[unit])
                 for target in targets for unit in UNITS})
    results = {label: upscaler.upscale(lq, row) for label, row in rows.items()}
    times = dict(zip(rows, interleaved_medians([lambda row=row: upscaler.upscale(lq, row) for row in rows.values()],
                                               upscaler.device, repeats, min)))
    full = times[f'whole {ladder[-1]}']
    points = [(times[f'whole {m}'] / full, float(image_values[m])) for m in ladder]
    size = f'{lq.shape[-1]}x{lq.shape[-2]}'
    subnets = upscaler.net.subnets
    wholes = ', '.join(f'{subnets[m][0]}x{subnets[m][1]} {share:.2f}' for m, (share, _) in zip(ladder, points))
    lines = [f'| {size} | {1e3 * full:.0f} | whole | {wholes} | | |']
    for target in targets:
        cells = []
        for unit in UNITS:
            label = f'{unit} {target:g}'
            share, quality = times[label] / full, results[label].plan.quality
            used = results[label].plan.describe(subnets).split(': ', 1)[1]
            cells.append(f'{share:.2f}, {quality - frontier_at(points, share):+.3f} ({used})')
        lines.append(f'| {size} | {1e3 * full:.0f} | {target:g} | ' + ' | '.join(cells) + ' |')
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-n', '--model-name', default='WBSR_MSRResNet_x4_291')
    parser.add_argument('--model', help='a checkpoint instead of a shipped name')
    parser.add_argument('--photos', type=Path, required=True, help='a folder of HR photos (PNG, JPEG, BMP)')
    parser.add_argument('--sizes', nargs='+', default=['120x80', '240x160', '480x320', '960x640', '1920x1280'])
    parser.add_argument('--targets', type=float, nargs='+', default=[0.5, 0.65, 0.8])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = args.model or str(model_path(args.model_name))
    upscaler = Upscaler.from_checkpoint(model, Runtime('cpu'))
    if upscaler.routing.get(TimeProfile) is None:
        raise SystemExit(f'{model} holds no time profile for {upscaler.device_name}: wbsr-calibrate --time-only first.')
    upscaler.engine.runner.prepare_all()
    photos = lr_photos(args.photos, upscaler.scale)
    lines = [f'{model}, {upscaler.device_name}, least of {args.repeats} interleaved runs; per unit: measured time '
             'over the full network\'s, predicted PSNR minus the whole-image frontier at that time (the subnets used); '
             'the "whole" lines: the ladder\'s subnets\' measured time over the full network\'s', '',
             '| LR size | full ms | target | ' + ' | '.join(UNITS) + ' |', '|---|---|---|' + '---|' * len(UNITS)]
    for size in args.sizes:
        width, height = map(int, size.split('x'))
        measured = measure(upscaler, mosaic(photos, width, height), args.targets, args.repeats)
        print('\n'.join(measured), flush=True)
        lines += measured
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
