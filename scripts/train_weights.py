"""Rebuild the shipped checkpoints from the 291 photos: prepare, train, calibrate, test, publish.

    make weights DATA=../data/train291 SETS=../data CALIBRATION=<photos>   # the same, through the Makefile
    python scripts/train_weights.py --data <T91 + BSD200 photos> --sets <folder holding Set5/ and Set14/> \\
        --calibration <other photos> [--work weights_work] [--names WBSR_MSRResNet_x4_291 ...] [--publish]

Per name (``wbsr_basicsr/zoo/recipes.py`` holds each recipe), every step is skipped when its output
exists, so the same command resumes an interrupted rebuild:

1. the photos (every image under ``--data``) as one HR folder, prepared by ``prepare_div2k`` for x2
   and x4 (sub-images of 240 every 120, GT patches 96; photos smaller than a sub-image skipped),
   and Set5 / Set14 by ``prepare_benchmarks``;
2. ``train.py --auto_resume`` with the recipe's options (2 CPU cores: docs/models.md);
3. ``wbsr-calibrate`` on ``--calibration``, photos neither trained nor tested on (prepared as a
   benchmark set; :data:`CALIBRATION_IMAGES` of them): the routing ladder, ARM's table, the quality
   model and this machine's CPU time profile (other devices measure their own on first use). On its
   training photos a network's larger subnets gain what they memorised (docs/routing.md, "Predicting
   quality");
4. ``test.py`` on Set5 and Set14, PSNR / SSIM on Y (border = scale): every subnet on the whole
   image and ``--target-time 0.65`` (the ``plan`` row), with bicubic beside them;
5. ``--publish``: the calibrated checkpoint, its recipe recorded in its ``wbsr`` entry, into
   ``wbsr_basicsr/zoo/weights/``, its entry in ``models.json`` and the table in ``models.md``.

``--retest`` runs step 4 on the shipped checkpoints themselves (no ``--data``, no training), and with
``--publish`` rewrites their table only: the figures the current code measures. With
``--calibration`` too, step 3 renews their routing calibration first (their time profiles kept), and
``--publish`` ships the checkpoints so calibrated.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Dict, List

import torch
import yaml

import wbsr_basicsr  # noqa: F401  (compatibility fixes and registries before basicsr)
from wbsr_basicsr.inference.supernet_entry import load_supernet
from wbsr_basicsr.utils.atomic import write_atomically, write_json
from wbsr_basicsr.utils.bicubic import bicubic_scores
from wbsr_basicsr.zoo import INDEX, WEIGHTS, ShippedModel, models_table, shipped_models
from wbsr_basicsr.zoo.recipes import RECIPES, TRAINING_DATA, WeightRecipe

REPO = Path(__file__).resolve().parents[1]
SETS = ('Set5', 'Set14')
PREPARE = ['--scales', '2', '4', '--crop-size', '240', '--step', '120', '--thresh-size', '24', '--gt-size', '96',
           '--workers', '2', '--skip-bad']
TEST_ROWS = [dict(mode='whole', subnet='all'), dict(mode='plan', target=0.65, scope='image')]  # plan: --target-time
TIME_ROW = 'plan_0.65_image'
CALIBRATION_IMAGES = 40


def run(step: str, command: List[str], work: Path) -> None:
    print(f'[weights] {step}: {" ".join(command)}', flush=True)
    log = work / 'logs' / f'{step}.log'
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, 'a', encoding='utf-8') as handle:
        status = subprocess.run(command, cwd=work, env=dict(os.environ, WBSR_ROOT=str(work)), stdout=handle,
                                stderr=subprocess.STDOUT).returncode
    if status:
        raise SystemExit(f'error: {step} failed (exit {status}); see {log}')


def prepare(data: Path, sets: Path, work: Path) -> None:
    """Step 1: the photos as one HR folder (links), then the LMDBs, statistics and benchmark sets."""
    prepare_benchmarks(sets, work)
    hr = work / 'source' / 'DIV2K_train_HR'
    if not hr.is_dir():
        photos = sorted(p for p in data.rglob('*') if p.suffix.lower() in ('.png', '.bmp', '.jpg', '.jpeg'))
        if not photos:
            raise SystemExit(f'error: --data {data}: no images under it.')
        links = work / 'source' / '.links'
        links.mkdir(parents=True, exist_ok=True)
        for photo in photos:
            (links / photo.name).symlink_to(photo.resolve())
        links.rename(hr)
    run('prepare', [sys.executable, str(REPO / 'datasets_prep' / 'prepare_div2k.py'), '--input', str(work / 'source'),
                    '--output', str(work / 'train'), *PREPARE], work)


def prepare_benchmarks(sets: Path, work: Path) -> None:
    run('benchmarks', [sys.executable, str(REPO / 'datasets_prep' / 'prepare_benchmarks.py'), '--input', str(sets),
                       '--output', str(work / 'bench'), '--scales', '2', '4'], work)


def train(recipe: WeightRecipe, work: Path) -> Path:
    """Step 2: the recipe trained to its last iteration; its last checkpoint (BasicSR writes
    ``net_g_latest.pth`` when training ends)."""
    final = work / 'experiments' / recipe.name / 'models' / 'net_g_latest.pth'
    if not final.exists():
        options = work / 'options' / f'{recipe.name}.yml'
        options.parent.mkdir(parents=True, exist_ok=True)
        options.write_text(yaml.safe_dump(recipe.train_options(work / 'train'), sort_keys=False))
        run(f'train_{recipe.name}', [sys.executable, str(REPO / 'wbsr_basicsr' / 'train.py'), '-opt', str(options),
                                     '--auto_resume'], work)
    return final


def prepare_calibration(photos: Path, work: Path) -> None:
    """The calibration photos as a benchmark set (``work/calibration/Calibration``: GTmod12, LRbicx2, LRbicx4)."""
    source = work / 'calibration_source' / 'Calibration'
    if not source.exists():
        source.parent.mkdir(parents=True, exist_ok=True)
        source.symlink_to(photos)
    run('calibration_photos', [sys.executable, str(REPO / 'datasets_prep' / 'prepare_benchmarks.py'), '--input',
                               str(source.parent), '--output', str(work / 'calibration'), '--scales', '2', '4'], work)


def calibrate(recipe: WeightRecipe, checkpoint: Path, work: Path, routing_only: bool = False) -> Path:
    """Step 3: the routing calibration and (unless ``routing_only``) this machine's CPU time profile, in a
    copy of the checkpoint."""
    calibrated = work / ('recalibrated' if routing_only else 'calibrated') / f'{recipe.name}.pth'
    if not calibrated.exists():
        calibrated.parent.mkdir(parents=True, exist_ok=True)
        photos = work / 'calibration' / 'Calibration'
        run(f'calibrate_{recipe.name}', [
            sys.executable, '-m', 'wbsr_cli.calibrate', '--model', str(checkpoint), '--gt', str(photos / 'GTmod12'),
            '--lq', str(photos / f'LRbicx{recipe.scale}'), '--max-images', str(CALIBRATION_IMAGES),
            '--output', str(calibrated)] + ['--routing-only'] * routing_only, work)
    return calibrated


def test(recipe: WeightRecipe, checkpoint: Path, work: Path, step: str = 'test') -> Dict[str, Dict]:
    """Step 4: ``test.py`` on the benchmark sets; per set, the table ``test.py`` wrote."""
    name = f'{step}_{recipe.name}'
    tables = {dataset: work / 'results' / name / f'wbsr_table_{dataset}.json' for dataset in SETS}
    if not all(path.exists() for path in tables.values()):
        options = dict(name=name, model_type='WBSRModel', scale=recipe.scale, num_gpu=0, manual_seed=0,
                       datasets={f'test_{i}': dict(name=dataset, type='PairedImageDataset', io_backend=dict(type='disk'),
                                                   dataroot_gt=str(work / 'bench' / dataset / 'GTmod12'),
                                                   dataroot_lq=str(work / 'bench' / dataset / f'LRbicx{recipe.scale}'))
                                 for i, dataset in enumerate(SETS, start=1)},
                       network_g=recipe.network(),
                       path=dict(pretrain_network_g=str(checkpoint), strict_load_g=True, param_key_g='params'),
                       val=dict(save_img=False, rows=TEST_ROWS, metrics=metrics(recipe.scale)))
        option_file = work / 'options' / f'{name}.yml'
        option_file.parent.mkdir(parents=True, exist_ok=True)
        option_file.write_text(yaml.safe_dump(options, sort_keys=False))
        run(name, [sys.executable, str(REPO / 'wbsr_basicsr' / 'test.py'), '-opt', str(option_file)], work)
    return {dataset: json.loads(path.read_text()) for dataset, path in tables.items()}


def metrics(scale: int) -> Dict[str, Dict]:
    """PSNR and SSIM on Y (the paper's), and PSNR on RGB (BasicSR's model zoo), border ``scale``."""
    on_y = dict(crop_border=scale, test_y_channel=True)
    return dict(psnr=dict(type='calculate_psnr', **on_y), ssim=dict(type='calculate_ssim', **on_y),
                psnr_rgb=dict(type='calculate_psnr', crop_border=scale, test_y_channel=False))


def by_label(table: Dict) -> Dict[str, Dict]:
    """The rows of a ``test.py`` table by label, the time row under :data:`TIME_ROW` whatever its ladder."""
    return {TIME_ROW if row['row'].startswith(TIME_ROW) else row['row']: row for row in table['rows']}


def time_shares(recipe: WeightRecipe, tables: Dict[str, Dict]) -> Dict[str, float]:
    """Per set, the time budget's row's measured seconds over the full network's (whole images)."""
    full = f'whole_{recipe.widths[-1]}x{recipe.depths[-1]}'
    shares = {}
    for dataset, table in tables.items():
        rows = by_label(table)
        shares[dataset] = round(rows[TIME_ROW]['seconds'] / rows[full]['seconds'], 3)
    return shares


def psnr_summary(recipe: WeightRecipe, tables: Dict[str, Dict], work: Path) -> Dict[str, Dict[str, float]]:
    """Per set, PSNR-Y of bicubic, the full network, the time budget's row and the smallest subnet,
    and PSNR on RGB of bicubic and the full network."""
    summary = {}
    for dataset, table in tables.items():
        rows = by_label(table)
        full = f'whole_{recipe.widths[-1]}x{recipe.depths[-1]}'
        smallest = f'whole_{recipe.widths[0]}x{recipe.depths[0]}'
        folder = work / 'bench' / dataset
        pairs = [(gt, folder / f'LRbicx{recipe.scale}' / gt.name) for gt in sorted((folder / 'GTmod12').iterdir())]
        bicubic = bicubic_scores(pairs, recipe.scale, metrics(recipe.scale))
        summary[dataset] = {'bicubic': round(bicubic['psnr'], 3), 'full': round(rows[full]['psnr'], 3),
                            'time 0.65': round(rows[TIME_ROW]['psnr'], 3),
                            smallest.replace('whole_', ''): round(rows[smallest]['psnr'], 3),
                            'bicubic RGB': round(bicubic['psnr_rgb'], 3), 'full RGB': round(rows[full]['psnr_rgb'], 3)}
    return summary


def publish(recipe: WeightRecipe, checkpoint: Path, psnr: Dict[str, Dict[str, float]],
            shares: Dict[str, float]) -> ShippedModel:
    """Step 5: the checkpoint with its training recorded, into the package; its ``models.json`` entry."""
    net, content, entry = load_supernet(str(checkpoint))
    training = dict(recipe.to_dict(), commit=git_commit(),
                    rebuild='python scripts/train_weights.py --data <T91 + BSD200> --sets <Set5, Set14> '
                                                 '--calibration <other photos> --publish')
    content = replace(entry, training=training).store(content)
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    target = WEIGHTS / f'{recipe.name}.pth'
    write_atomically(str(target), lambda tmp_path: torch.save(content, tmp_path))
    return ShippedModel(recipe.name, recipe.scale, sum(p.numel() for p in net.parameters()),
                        round(net.flops(None, (1000, 1000)) / 1e9, 1), TRAINING_DATA, recipe.to_dict(), psnr, shares)


def retest(recipe: WeightRecipe, work: Path, checkpoint: Path) -> ShippedModel:
    """Step 4 on a shipped ``checkpoint`` (no training; as shipped or recalibrated): its ``models.json``
    entry with the figures the current code measures."""
    shipped = shipped_models()[recipe.name]
    tables = test(recipe, checkpoint, work, 'retest')
    return replace(shipped, psnr=psnr_summary(recipe, tables, work), time_share=time_shares(recipe, tables))


def ship(checkpoint: Path, name: str) -> None:
    """A recalibrated shipped checkpoint into the package, as it is."""
    write_atomically(str(WEIGHTS / f'{name}.pth'), lambda tmp_path: shutil.copyfile(checkpoint, tmp_path))


def git_commit() -> str:
    result = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO, capture_output=True, text=True)
    return result.stdout.strip() or 'unknown'


def write_index(models: List[ShippedModel]) -> None:
    """``models.json`` (every shipped name, replaced by name) and ``models.md`` (the printed table)."""
    known = {entry['name']: entry for entry in json.loads(INDEX.read_text())} if INDEX.exists() else {}
    for model in models:
        known[model.name] = dict(name=model.name, scale=model.scale, params=model.params,
                                 gflops_per_lr_mp=model.gflops_per_lr_mp, trained_on=model.trained_on,
                                 recipe=model.recipe, psnr=model.psnr, time_share=model.time_share)
    write_json(str(INDEX), sorted(known.values(), key=lambda entry: entry['name']))
    write_atomically(str(WEIGHTS / 'models.md'), lambda tmp_path: Path(tmp_path).write_text(
        '# Shipped models (written by scripts/train_weights.py)\n\n```\n' + models_table() + '\n```\n'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', type=Path, help='the training photos (T91 + BSD200), any layout')
    parser.add_argument('--sets', type=Path, required=True, help='a folder holding Set5/ and Set14/ (HR images)')
    parser.add_argument('--calibration', type=Path, help='photos for the routing calibration, neither trained nor '
                                                         'tested on (HR images)')
    parser.add_argument('--work', type=Path, default=REPO / 'weights_work', help='prepared data, runs and logs')
    parser.add_argument('--names', nargs='+', default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument('--publish', action='store_true', help='write the results into wbsr_basicsr/zoo/weights/')
    parser.add_argument('--retest', action='store_true', help='measure the shipped checkpoints again (steps 4 and '
                                                               '5 without training; with --publish, their table only)')
    parser.add_argument('--iters', type=int, help='train every name this many iterations instead (a check of the '
                                                  'pipeline or of its determinism; not with --publish)')
    args = parser.parse_args()
    if args.iters is not None and args.publish:
        parser.error('--iters changes the recipes; the shipped checkpoints are published from the recipes as they are.')
    if not args.retest and (args.data is None or args.calibration is None):
        parser.error('--data and --calibration: the training and calibration photos are needed unless --retest.')
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.retest:
        prepare_benchmarks(args.sets.resolve(), work)
    else:
        prepare(args.data.resolve(), args.sets.resolve(), work)
    if args.calibration is not None:
        prepare_calibration(args.calibration.resolve(), work)
    published = []
    for name in args.names:
        if args.retest:
            checkpoint = shipped_models()[name].path
            if args.calibration is not None:
                checkpoint = calibrate(RECIPES[name], checkpoint, work, routing_only=True)
            published.append(retest(RECIPES[name], work, checkpoint))
            if args.calibration is not None and args.publish:
                ship(checkpoint, name)
            print(f'[weights] {name} measured again: {published[-1].psnr}; --target-time 0.65 took '
                  f'{published[-1].time_share} of the full network\'s time')
            continue
        recipe = RECIPES[name] if args.iters is None else replace(RECIPES[name], iters=args.iters)
        checkpoint = calibrate(recipe, train(recipe, work), work)
        tables = test(recipe, checkpoint, work)
        psnr, shares = psnr_summary(recipe, tables, work), time_shares(recipe, tables)
        print(f'[weights] {name}: ' + '; '.join(f'{dataset} ' + ', '.join(f'{row} {value:.2f}' for row, value in
                                                                       rows.items()) for dataset, rows in psnr.items())
              + f'; --target-time 0.65 took {shares} of the full network\'s time')
        if args.publish:
            published.append(publish(recipe, checkpoint, psnr, shares))
    if published and args.publish:
        write_index(published)
        print(models_table())
    return 0


if __name__ == '__main__':
    sys.exit(main())
