"""Compare training recipes at equal iterations: losses, HES and the supernet schedule.

Each recipe is ``<network>[+hes]:<loss>``:

- network ``plain`` (BasicSR's MSRResNet; a one-subnet WBSR supernet when the loss is BDLoss,
  whose noise scale only WBSRModel learns) or ``supernet`` (WBSRMSRResNet, sandwich schedule);
- ``+hes``: Hierarchical Equalization Sampling instead of uniform crops;
- loss ``l1``, ``mse``, ``bd-laplace`` or ``bd-gaussian`` (BDLoss, learned scale), or
  ``bd-laplace@S`` / ``bd-gaussian@S`` (scale fixed at S).

Every recipe is trained with ``wbsr_basicsr/train.py`` and tested with ``wbsr_basicsr/test.py``
(PSNR / SSIM on Y, border ``scale``) for each seed; the table gives mean and spread per set.
Finished runs are skipped, so the same command continues an interrupted study::

    python scripts/training_study.py --train /data/d291_out --bench /data/bench --sets Set5 Set14 \\
        --recipes plain:l1 plain:bd-laplace supernet+hes:bd-laplace --seeds 0 1 --iters 1000

The reduced network and schedule are options (defaults: MSRResNet num_feat 32, 8 blocks,
supernet widths 18/26/32 x depths 2/4/8, GT 96, batch 8, Adam 5e-4 with cosine decay).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from wbsr_basicsr.utils.atomic import write_json

REPO = Path(__file__).resolve().parents[1]
RECIPE = re.compile(r'^(plain|supernet)(\+hes)?:(l1|mse|bd-laplace|bd-gaussian)(?:@([0-9.eE-]+))?$')


@dataclass(frozen=True)
class Recipe:
    text: str
    supernet: bool
    hes: bool
    loss: str
    fixed_scale: Optional[float]

    @classmethod
    def parse(cls, text: str) -> 'Recipe':
        match = RECIPE.match(text)
        if not match:
            raise SystemExit(f'error: recipe {text!r} is not <plain|supernet>[+hes]:<l1|mse|bd-laplace|'
                             'bd-gaussian>[@scale]')
        network, hes, loss, scale = match.groups()
        recipe = cls(text, network == 'supernet', hes is not None, loss, None if scale is None else float(scale))
        if scale is not None and not loss.startswith('bd-'):
            raise SystemExit(f'error: recipe {text!r}: only BDLoss takes a @scale.')
        return recipe

    @property
    def slug(self) -> str:
        return re.sub(r'[^A-Za-z0-9.]+', '_', self.text)

    @property
    def wbsr_model(self) -> bool:
        """WBSRModel trains supernets and learns BDLoss's scale; SRModel (HESSRModel) the rest."""
        return self.supernet or self.loss.startswith('bd-')


def pixel_loss(recipe: Recipe, train_root: Path) -> Dict:
    if recipe.loss == 'l1':
        return dict(type='L1Loss', loss_weight=1.0, reduction='mean')
    if recipe.loss == 'mse':
        return dict(type='MSELoss', loss_weight=1.0, reduction='mean')
    fixed = recipe.fixed_scale is not None
    return dict(type='BDLoss', gmm_file=str(train_root / 'bdloss_prior.json'), likelihood=recipe.loss[3:],
                space='intensity', init_sigma=recipe.fixed_scale if fixed else 0.05, learn_sigma=not fixed)


def network(recipe: Recipe, args: argparse.Namespace, wbsr: bool) -> Dict:
    net = dict(type='WBSRMSRResNet' if wbsr else 'MSRResNet', num_in_ch=3, num_out_ch=3, num_feat=args.num_feat,
               num_block=args.num_block, upscale=args.scale)
    if wbsr:
        net.update(widths=args.widths if recipe.supernet else [args.num_feat],
                   depths=args.depths if recipe.supernet else [args.num_block])
    return net


def train_options(recipe: Recipe, seed: int, args: argparse.Namespace) -> Dict:
    root, scale = args.train, args.scale
    dataset = dict(name='train', type='HESPairedImageDataset' if recipe.hes else 'PairedImageDataset',
                   dataroot_gt=str(root / 'DIV2K_train_HR_sub.lmdb'),
                   dataroot_lq=str(root / f'DIV2K_train_LR_bicubic_X{scale}_sub.lmdb'), io_backend=dict(type='lmdb'),
                   gt_size=args.gt_size, use_hflip=True, use_rot=True, num_worker_per_gpu=args.workers,
                   batch_size_per_gpu=args.batch, dataset_enlarge_ratio=100, prefetch_mode=None)
    if recipe.hes:
        dataset['hes'] = dict(stats_file=str(root / f'hes_stats_X{scale}.npz'), num_classes=10, delta=0.9,
                              start_frac=0.7)
    train = dict(ema_decay=0, optim_g=dict(type='Adam', lr=args.lr, weight_decay=0, betas=[0.9, 0.999]),
                 scheduler=dict(type='CosineAnnealingRestartLR', periods=[args.iters], restart_weights=[1],
                                eta_min=1e-7),
                 total_iter=args.iters, warmup_iter=-1, pixel_opt=pixel_loss(recipe, root))
    options = dict(name=run_name(recipe, seed), scale=scale, num_gpu=args.num_gpu, manual_seed=seed,
                   datasets=dict(train=dataset),
                   network_g=network(recipe, args, recipe.wbsr_model),
                   path=dict(pretrain_network_g=None, strict_load_g=True, resume_state=None), train=train,
                   logger=dict(print_freq=100, save_checkpoint_freq=args.iters, use_tb_logger=False,
                               wandb=dict(project=None, resume_id=None)))
    if recipe.wbsr_model:
        options['model_type'] = 'WBSRModel'
        options['routing'] = dict(stats_file=str(root / f'routing_stats_X{scale}.npz'), num_classes=10)
        train['subnet_sampling'] = dict(strategy='sandwich', num_random=1)
        train['sigma_lr'] = 1e-2
    else:
        options['model_type'] = 'HESSRModel' if recipe.hes else 'SRModel'
    return options


def test_options(recipe: Recipe, seed: int, args: argparse.Namespace, checkpoint: Path, rows: List[Dict],
                 tag: str) -> Dict:
    metric = dict(crop_border=args.scale, test_y_channel=True)
    datasets = {f'test_{i}': dict(name=name, type='PairedImageDataset', io_backend=dict(type='disk'),
                                  dataroot_gt=str(args.bench / name / 'GTmod12'),
                                  dataroot_lq=str(args.bench / name / f'LRbicx{args.scale}'))
                for i, name in enumerate(args.sets, start=1)}
    return dict(name=f'{run_name(recipe, seed)}_{tag}', model_type='WBSRModel', scale=args.scale, num_gpu=args.num_gpu,
                manual_seed=0, datasets=datasets, network_g=network(recipe, args, wbsr=True),
                routing=dict(patch_size=32, stride=28, max_batch=256),
                path=dict(pretrain_network_g=str(checkpoint), strict_load_g=True, param_key_g='params'),
                val=dict(save_img=False, rows=rows,
                         metrics=dict(psnr=dict(type='calculate_psnr', **metric),
                                      ssim=dict(type='calculate_ssim', **metric))))


def run_name(recipe: Recipe, seed: int) -> str:
    return f'study_{recipe.slug}_s{seed}'


def settings(args: argparse.Namespace) -> Dict:
    """What a finished run's result depends on besides its recipe and seed."""
    keys = ('train', 'bench', 'scale', 'iters', 'lr', 'gt_size', 'batch', 'num_feat', 'num_block', 'widths', 'depths')
    return {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items() if key in keys}


def run(command: List[str], root: Path, log: Path) -> None:
    with open(log, 'a', encoding='utf-8') as handle:
        status = subprocess.run(command, cwd=root, env=dict(os.environ, WBSR_ROOT=str(root)), stdout=handle,
                                stderr=subprocess.STDOUT).returncode
    if status:
        raise SystemExit(f'error: {" ".join(command)} failed (exit {status}); see {log}')


STUDY_ROWS = [dict(mode='fixed', subnet='all')]


def train_and_test(recipe: Recipe, seed: int, args: argparse.Namespace, rows: List[Dict] = STUDY_ROWS,
                   tag: str = 'test', calibrate: bool = False) -> Dict:
    """One run: its result file (``<tag>/<name>.json``) if it exists, else train (unless the
    checkpoint exists; resuming a killed run), calibrate the routing if asked, and test ``rows``."""
    root, name = args.out, run_name(recipe, seed)
    result_path = root / ('study' if tag == 'test' else tag) / f'{name}.json'
    for folder in ('study', result_path.parent):
        (root / folder).mkdir(parents=True, exist_ok=True)
    settings_path = root / 'study' / f'{name}.settings.json'
    if settings_path.exists() and json.loads(settings_path.read_text()) != settings(args):
        raise SystemExit(f'error: {name} in {root} was started with other settings ({settings_path.read_text()}); '
                         'use another --out.')
    if result_path.exists():
        return json.loads(result_path.read_text())
    settings_path.write_text(json.dumps(settings(args)))
    log = root / 'study' / f'{name}.log'
    started = time.time()
    checkpoint = root / 'experiments' / name / 'models' / 'net_g_latest.pth'
    if not checkpoint.exists():
        option_file = root / 'study' / f'{name}_train.yml'
        option_file.write_text(yaml.safe_dump(train_options(recipe, seed, args), sort_keys=False))
        run([sys.executable, str(REPO / 'wbsr_basicsr' / 'train.py'), '-opt', str(option_file), '--auto_resume'],
            root, log)
    train_seconds = time.time() - started
    if calibrate:
        calibrated = result_path.parent / f'{name}_calibrated.pth'
        run([sys.executable, str(REPO / 'scripts' / 'calibrate_routing.py'), '--model', str(checkpoint), '--gt',
             str(args.train / 'DIV2K_train_HR_sub.lmdb'), '--lq',
             str(args.train / f'DIV2K_train_LR_bicubic_X{args.scale}_sub.lmdb'), '--max-images', '300', '--output',
             str(calibrated), '-opt', str(root / 'study' / f'{name}_train.yml')], root, log)
        checkpoint = calibrated
    option_file = result_path.parent / f'{name}_{tag}.yml'
    option_file.write_text(yaml.safe_dump(test_options(recipe, seed, args, checkpoint, rows, tag), sort_keys=False))
    run([sys.executable, str(REPO / 'wbsr_basicsr' / 'test.py'), '-opt', str(option_file)], root, log)
    tables = {dataset: json.loads((root / 'results' / f'{name}_{tag}' / f'wbsr_table_{dataset}.json').read_text())
              for dataset in args.sets}
    result = dict(recipe=recipe.text, seed=seed, train_seconds=train_seconds,
                  subnets=next(iter(tables.values()))['subnets'],
                  rows={dataset: table['rows'] for dataset, table in tables.items()})
    write_json(str(result_path), result)
    return result


def summarise(results: List[Dict], sets: List[str]) -> str:
    """Markdown: per recipe, the full subnet's PSNR-Y per set (mean +- spread over seeds)."""
    lines = ['| recipe | seeds | ' + ' | '.join(f'{s} PSNR' for s in sets) + ' | train s |',
             '|---|---|' + '---|' * (len(sets) + 1)]
    by_recipe: Dict[str, List[Dict]] = {}
    for result in results:
        by_recipe.setdefault(result['recipe'], []).append(result)
    for recipe, runs in by_recipe.items():
        cells = []
        for dataset in sets:
            values = [run['rows'][dataset][-1]['psnr'] for run in runs]  # the last fixed row is the full network
            spread = f' +- {statistics.stdev(values):.3f}' if len(values) > 1 else ''
            cells.append(f'{statistics.mean(values):.3f}{spread} ({", ".join(f"{v:.2f}" for v in values)})')
        seconds = statistics.mean(run['train_seconds'] for run in runs)
        lines.append(f'| `{recipe}` | {len(runs)} | ' + ' | '.join(cells) + f' | {seconds:.0f} |')
    return '\n'.join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--train', type=Path, required=True, help='prepare_div2k.py output (LMDBs, statistics, prior)')
    parser.add_argument('--bench', type=Path, required=True, help='prepare_benchmarks.py output')
    parser.add_argument('--sets', nargs='+', default=['Set5', 'Set14'])
    parser.add_argument('--recipes', nargs='+', required=True)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    parser.add_argument('--out', type=Path, default=REPO, help='experiments/, results/ and study/ go here')
    parser.add_argument('--scale', type=int, default=4)
    parser.add_argument('--iters', type=int, default=1000)
    parser.add_argument('--lr', type=float, default=5e-4)
    parser.add_argument('--gt-size', type=int, default=96)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--num-feat', type=int, default=32)
    parser.add_argument('--num-block', type=int, default=8)
    parser.add_argument('--widths', type=int, nargs='+', default=[18, 26, 32])
    parser.add_argument('--depths', type=int, nargs='+', default=[2, 4, 8])
    parser.add_argument('--num-gpu', type=int, default=0, help='BasicSR num_gpu (0: the CPU)')
    args = parser.parse_args()
    args.train, args.bench, args.out = args.train.resolve(), args.bench.resolve(), args.out.resolve()
    recipes = [Recipe.parse(text) for text in args.recipes]
    results = []
    for recipe in recipes:
        for seed in args.seeds:
            print(f'[study] {recipe.text} seed {seed}', flush=True)
            results.append(train_and_test(recipe, seed, args))
    table = summarise(results, args.sets)
    print(table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
