"""How well a calibration ranks images by the gain of one subnet over another: predicted against measured.

    python benchmarks/bench_quality_model.py -n WBSR_MSRResNet_x4_291 --bench <prepare_benchmarks output> \\
        --sets Set5 Set14 [--also other_calibrated.pth ...] [--over 32x12] [--threads 2]

Per image of the sets, the full network and subnet ``--over`` run on the whole LR image (PSNR-Y, border
= scale, against GTmod12); the measured gain is the difference. Each calibration (the model's, then
every ``--also`` checkpoint's: the same parameters, another calibration) predicts it as the planner
does: the mean over the image's routing patches of its predicted PSNR under each (the quality model,
else the edge table; ``edge`` columns: the edge table of the same calibration). Printed per set and
over all of them: Spearman's rank correlation of predicted and measured gains, and their means.
"""
import argparse
import os
from dataclasses import replace
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import torch
from scipy.stats import spearmanr

import wbsr_basicsr  # noqa: F401  (compatibility fixes before basicsr)
from basicsr.metrics import calculate_psnr
from wbsr_basicsr.inference.supernet_entry import SupernetEntry
from wbsr_basicsr.inference.upscaler import Upscaler
from wbsr_basicsr.routing.calibration import Calibration
from wbsr_basicsr.runtime.patches import chop
from wbsr_basicsr.utils.image_io import read_image
from wbsr_basicsr.zoo import model_path


def predictors(checkpoints: List[str]) -> Dict[str, Calibration]:
    """Per checkpoint (``[k]``: the k-th), its calibration as it predicts and (if it has a quality model)
    its edge table alone (``[k] edge``)."""
    found = {}
    for number, checkpoint in enumerate(checkpoints, start=1):
        entry = SupernetEntry.read(checkpoint)
        calibration = entry.calibration if entry is not None else None
        if calibration is None:
            raise SystemExit(f'error: {checkpoint}: no routing calibration.')
        name = f'[{number}]'
        print(f'{name} {checkpoint}: {calibration.source}')
        found[name] = calibration
        if calibration.quality is not None:
            found[f'{name} edge'] = replace(calibration, quality=None)
    return found


def psnr_y(sr: torch.Tensor, gt: np.ndarray, scale: int) -> float:
    out = (sr[0].clamp(0, 1).permute(1, 2, 0).numpy()[..., ::-1] * 255).round().astype(np.uint8)
    return calculate_psnr(out, gt, crop_border=scale, test_y_channel=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-n', '--model-name', default='WBSR_MSRResNet_x4_291')
    parser.add_argument('--model', help='a checkpoint instead of a shipped name')
    parser.add_argument('--also', nargs='*', default=[], help='other calibrations of the same parameters')
    parser.add_argument('--bench', type=Path, required=True, help="prepare_benchmarks.py's output folder")
    parser.add_argument('--sets', nargs='+', default=['Set5', 'Set14'])
    parser.add_argument('--over', default='32x12', help='the subnet the full network\'s gain is measured over')
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = args.model or str(model_path(args.model_name))
    upscaler = Upscaler.from_checkpoint(model)
    net, scale, runner = upscaler.net, upscaler.scale, upscaler.engine.runner
    calibrations = predictors([model] + args.also)
    over = [f'{w}x{d}' for w, d in net.subnets].index(args.over)
    measured: Dict[str, List[float]] = {}
    predicted: Dict[str, Dict[str, List[float]]] = {}
    for dataset in args.sets:
        folder = args.bench / dataset
        for name in sorted(os.listdir(folder / 'GTmod12')):
            lq = read_image(str(folder / f'LRbicx{scale}' / name)).rgb
            gt = cv2.imread(str(folder / 'GTmod12' / name))
            with torch.no_grad():
                gain = psnr_y(runner.run_whole(-1, lq), gt, scale) - psnr_y(runner.run_whole(over, lq), gt, scale)
            measured.setdefault(dataset, []).append(gain)
            patches = chop(lq, runner.layout(lq))
            for label, calibration in calibrations.items():
                psnr = calibration.predict(patches).mean(0)
                predicted.setdefault(dataset, {}).setdefault(label, []).append(float(psnr[-1] - psnr[over]))
    groups = {dataset: dataset for dataset in args.sets}
    if len(args.sets) > 1:
        groups['all'] = '+'.join(args.sets)
    print(f'\nThe full network\'s gain over {args.over} per image, predicted against measured (PSNR-Y, whole '
          f'images, {args.threads} threads)\n')
    print('| images | n | measured mean | ' + ' | '.join(f'{label}: Spearman, mean' for label in calibrations) + ' |')
    print('|---' * (3 + len(calibrations)) + '|')
    for label, sets in groups.items():
        names = sets.split('+')
        truth = np.concatenate([measured[d] for d in names])
        cells = []
        for calibration in calibrations:
            guess = np.concatenate([predicted[d][calibration] for d in names])
            cells.append(f'{spearmanr(guess, truth)[0]:+.2f}, {guess.mean():.3f}')
        print(f'| {label} | {len(truth)} | {truth.mean():.3f} | ' + ' | '.join(cells) + ' |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
