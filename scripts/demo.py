"""WBSR end to end on scikit-image's bundled photos, on the CPU: the README's first command.

1. Five photos in DIV2K's layout -> ``datasets_prep/prepare_div2k.py`` (LMDBs, HES and routing
   statistics, BDLoss prior) in ``datasets/demo/prepared``.
2. Two other photos, mod-cropped with their bicubic x2 LR, as a held-out test set.
3. ``wbsr_basicsr/train.py -opt options/demo/train_WBSR_demo.yml``: a small supernet, HES, L1.
4. ``scripts/calibrate_routing.py`` on the training LMDBs: ARM's table, the Pareto ladder and the quality
   model (a demo's shortcut: a real calibration uses photos the network was not trained on).
5. ``wbsr_basicsr/train.py -opt options/demo/train_ClassSR_demo.yml``: ClassSR's classifier on the
   frozen supernet.
6. ``wbsr_basicsr/test.py -opt options/demo/test_WBSR_demo.yml``: every subnet and the routers
   (WBSR's, ARM's, ClassSR's, the oracle) at 65% of the full FLOPs: Table 1 on one supernet.
7. The table, with bicubic upsampling for reference, and where the allocation maps are.
8. ``inference/inference_wbsr.py`` on one held-out LR photo at 65% of the FLOPs, as a user runs it.

    python scripts/demo.py [--iters N] [--root DIR]     (make demo sets up .venv first)

Everything is written under ``--root`` (default: the repository root): ``datasets/demo/``,
``experiments/`` and ``results/``, as BasicSR lays them out.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import yaml

from wbsr_basicsr.prepare.common import bicubic_downsample, mod_crop

REPO = Path(__file__).resolve().parents[1]

TRAIN_PHOTOS = ('astronaut', 'rocket', 'immunohistochemistry', 'hubble_deep_field', 'retina')
HELDOUT_PHOTOS = ('chelsea', 'coffee')
DEMO = Path('datasets/demo')
TRAIN_OPT = Path('options/demo/train_WBSR_demo.yml')
CLASSIFIER_OPT = Path('options/demo/train_ClassSR_demo.yml')
TEST_OPT = Path('options/demo/test_WBSR_demo.yml')
SCALE = 2


def photo_bgr(name: str) -> np.ndarray:
    from skimage import data
    return cv2.cvtColor(getattr(data, name)()[..., :3], cv2.COLOR_RGB2BGR)


def write_sources() -> None:
    """Training photos as ``DIV2K_train_HR/0001.png ...``; held-out GT and bicubic LR pairs."""
    hr_dir = DEMO / 'source' / 'DIV2K_train_HR'
    gt_dir, lr_dir = DEMO / 'heldout' / 'GT', DEMO / 'heldout' / f'LRbicx{SCALE}'
    for folder in (hr_dir, gt_dir, lr_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(TRAIN_PHOTOS, start=1):
        cv2.imwrite(str(hr_dir / f'{index:04d}.png'), photo_bgr(name))
    for name in HELDOUT_PHOTOS:
        gt = mod_crop(photo_bgr(name), 12)
        cv2.imwrite(str(gt_dir / f'{name}.png'), gt)
        cv2.imwrite(str(lr_dir / f'{name}.png'), bicubic_downsample(gt, SCALE))


def run(step: str, command: List[str], root: Path) -> float:
    print(f'\n[demo] {step}: {" ".join(command)}', flush=True)
    started = time.time()
    subprocess.run(command, check=True, cwd=root, env=dict(os.environ, WBSR_ROOT=str(root)))
    return time.time() - started


def bicubic_reference(metrics: Dict[str, dict], root: Path) -> Dict[str, float]:
    """BasicSR's metrics of MATLAB-bicubic x2 upsampling on the held-out photos."""
    import wbsr_basicsr  # noqa: F401  (compatibility fixes before basicsr)
    from wbsr_basicsr.utils.bicubic import bicubic_scores

    heldout = root / DEMO / 'heldout'
    return bicubic_scores(((heldout / 'GT' / f'{name}.png', heldout / f'LRbicx{SCALE}' / f'{name}.png')
                           for name in HELDOUT_PHOTOS), SCALE, metrics)


def print_summary(seconds: Dict[str, float], root: Path) -> None:
    test_opt = yaml.safe_load((REPO / TEST_OPT).read_text())
    results = root / 'results' / test_opt['name']
    dataset = test_opt['datasets']['test_1']['name']
    table = json.loads((results / f'wbsr_table_{dataset}.json').read_text())
    metrics = list(test_opt['val']['metrics'])
    subnets = [f'{w}x{d}' for w, d in table['subnets']]
    print(f'\n[demo] {dataset} ({", ".join(HELDOUT_PHOTOS)}), x{SCALE}: FLOPs per 32x32 LR patch; usage = % of '
          f'patches per subnet ({" ".join(subnets)})')
    print(f"{'row':<28}" + ''.join(f'{m:>9}' for m in metrics) +
          f"{'GFLOPs':>9}{'%full':>7}{'s/img':>8}{'vs fixed':>9}  usage")
    for row in table['rows']:
        usage = ' '.join(f'{100 * u:3.0f}' for u in row['usage'])
        versus = '-' if row.get('vs_fixed') is None else f"{row['vs_fixed']:+.3f}"
        print(f"{row['row']:<28}" + ''.join(f'{row[m]:>9.4f}' for m in metrics) +
              f"{row['gflops']:>9.3f}{row['flops_percent']:>7.1f}{row['seconds']:>8.3f}{versus:>9}  {usage}")
    bicubic = bicubic_reference(test_opt['val']['metrics'], root)
    print(f"{'bicubic':<28}" + ''.join(f'{bicubic[m]:>9.4f}' for m in metrics))
    print(f"vs fixed: {table['reference_metric']} minus the fixed subnets' frontier at the row's FLOPs")
    for row in table['rows']:
        if 'class_shares' in row:
            print(f"[demo] ClassSR classifier class shares, {row['row']}: "
                  + ', '.join(f'{name} {100 * share:.0f}%' for name, share in row['class_shares'].items())
                  + (' (collapsed onto one class)' if row['collapsed'] else ''))
    maps = sorted((results / 'visualization' / dataset).glob('*_subnets.png'))
    print(f'\n[demo] allocation maps (Fig. 3c): {len(maps)} in {maps[0].parent if maps else results}')
    print('[demo] time: ' + ', '.join(f'{step} {value:.0f} s' for step, value in seconds.items()))


def shortened(option_file: Path, iters: int, root: Path) -> Path:
    """``option_file``, or with ``iters`` a copy under ``root`` that trains (and validates) that many
    iterations, its schedule scaled to them."""
    if not iters:
        return REPO / option_file
    options = yaml.safe_load((REPO / option_file).read_text())
    train = options['train']
    if 'periods' in train['scheduler']:
        train['scheduler']['periods'] = [iters]
    else:
        train['scheduler']['milestones'] = [max(1, m * iters // train['total_iter']) for m in
                                            train['scheduler']['milestones']]
    train['total_iter'] = options['logger']['save_checkpoint_freq'] = iters
    if 'val' in options:
        options['val']['val_freq'] = iters
    copy = root / DEMO / option_file.name
    copy.write_text(yaml.safe_dump(options, sort_keys=False))
    return copy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, help='training iterations (default: the demo options, 800)')
    parser.add_argument('--root', type=Path, default=REPO, help='where data, experiments and results go')
    args = parser.parse_args()
    root = args.root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.chdir(root)
    seconds: Dict[str, float] = {}
    started = time.time()
    write_sources()
    seconds['photos'] = time.time() - started
    seconds['prepare'] = run('prepare', [
        sys.executable, str(REPO / 'datasets_prep' / 'prepare_div2k.py'), '--input', str(DEMO / 'source'), '--output',
        str(DEMO / 'prepared'), '--scales', str(SCALE), '--crop-size', '240', '--step', '120', '--thresh-size', '24',
        '--gt-size', '64', '--gmm-samples', '50000', '--workers', '2'], root)
    entry = REPO / 'wbsr_basicsr'
    seconds['train'] = run('train', [sys.executable, str(entry / 'train.py'), '-opt',
                                     str(shortened(TRAIN_OPT, args.iters, root))], root)
    checkpoint = root / 'experiments' / 'WBSR_demo_x2' / 'models' / 'net_g_latest.pth'
    prepared = DEMO / 'prepared'
    seconds['calibrate'] = run('calibrate', [
        sys.executable, str(REPO / 'scripts' / 'calibrate_routing.py'), '--model', str(checkpoint), '--gt',
        str(prepared / 'DIV2K_train_HR_sub.lmdb'), '--lq', str(prepared / f'DIV2K_train_LR_bicubic_X{SCALE}_sub.lmdb'),
        '--max-images', '100'], root)
    seconds['classifier'] = run('ClassSR classifier', [sys.executable, str(entry / 'train.py'), '-opt',
                                                       str(shortened(CLASSIFIER_OPT, args.iters, root))], root)
    seconds['test'] = run('test', [sys.executable, str(entry / 'test.py'), '-opt', str(REPO / TEST_OPT)], root)
    print_summary(seconds, root)
    seconds['inference'] = run('your own photo', [
        sys.executable, str(REPO / 'inference' / 'inference_wbsr.py'), '-i',
        str(DEMO / 'heldout' / f'LRbicx{SCALE}' / f'{HELDOUT_PHOTOS[0]}.png'), '-o', 'results/WBSR_demo_x2_inference',
        '--model', str(checkpoint), '--target', '0.65', '--save-map'], root)
    return 0


if __name__ == '__main__':
    sys.exit(main())
