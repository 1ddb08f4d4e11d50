"""Training and testing one recipe with one seed through ``train.py`` / ``test.py``: the machinery of
``scripts/training_study.py`` (recipes against each other) and ``scripts/reproduce.py`` (Table 2).

A recipe is ``<network>[+<sampler>]:<loss>``:

- network ``plain`` (BasicSR's MSRResNet; a one-subnet WBSR supernet when the loss is BDLoss,
  whose noise scale only WBSRModel learns) or ``supernet`` (WBSRMSRResNet, sandwich schedule);
- ``+hes``: Hierarchical Equalization Sampling instead of uniform crops; ``+samplingaug``,
  ``+dda``, ``+bspa``: the other samplers of the paper's Table 3 (:func:`study_samplers`; DDA and
  BSPA train with ``HESSRModel``'s help, so only with ``plain`` and L1 or MSE);
- loss ``l1``, ``mse``, ``bd-laplace`` or ``bd-gaussian`` (BDLoss, learned scale), or
  ``bd-laplace@S`` / ``bd-gaussian@S`` (scale fixed at S).

Finished runs are skipped and killed ones resumed (:func:`train_and_test`); the network and
schedule sizes come from the caller's settings (:mod:`.presets`).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from wbsr_basicsr.utils.atomic import write_json

PACKAGE = Path(__file__).resolve().parents[1]
RECIPE = re.compile(r'^(plain|supernet)(?:\+(hes|samplingaug|dda|bspa))?:(l1|mse|bd-laplace|bd-gaussian)'
                    r'(?:@([0-9.eE-]+))?$')


def study_samplers(iters: int) -> Dict[str, Dict]:
    """The ``sampler:`` block of each recipe sampler, scaled to ``iters`` (docs/results.md, Table 3).

    HES switches at 70% as the paper; the others draw from the start. BSPA runs five cycles, each
    95% uniform and 5% inverse-frequency iterations (the paper's 2,500 inverse batches every 50
    epochs), with a cheaper attribution (10 steps on 4 batches, the paper 100 steps).
    """
    cycle = max(2, iters // 5)
    return {'hes': dict(type='HES', delta=0.9), 'samplingaug': dict(type='SamplingAug', portion=0.1),
            'dda': dict(type='DDA'),
            'bspa': dict(type='BSPA', interval=cycle - max(1, cycle // 20), inverse_iters=max(1, cycle // 20),
                         steps=10, attribution_batches=4)}


@dataclass(frozen=True)
class Recipe:
    text: str
    supernet: bool
    sampler: Optional[str]
    loss: str
    fixed_scale: Optional[float]

    @classmethod
    def parse(cls, text: str) -> 'Recipe':
        match = RECIPE.match(text)
        if not match:
            raise SystemExit(f'error: recipe {text!r} is not <plain|supernet>[+hes|+samplingaug|+dda|+bspa]:'
                             '<l1|mse|bd-laplace|bd-gaussian>[@scale]')
        network, sampler, loss, scale = match.groups()
        recipe = cls(text, network == 'supernet', sampler, loss, None if scale is None else float(scale))
        if scale is not None and not loss.startswith('bd-'):
            raise SystemExit(f'error: recipe {text!r}: only BDLoss takes a @scale.')
        if sampler in ('dda', 'bspa') and recipe.wbsr_model:
            raise SystemExit(f'error: recipe {text!r}: {sampler} trains with HESSRModel, a plain network with L1 or '
                             'MSE.')
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
    dataset = dict(name='train', type='HESPairedImageDataset' if recipe.sampler else 'PairedImageDataset',
                   dataroot_gt=str(root / 'DIV2K_train_HR_sub.lmdb'),
                   dataroot_lq=str(root / f'DIV2K_train_LR_bicubic_X{scale}_sub.lmdb'), io_backend=dict(type='lmdb'),
                   gt_size=args.gt_size, use_hflip=True, use_rot=True, num_worker_per_gpu=args.workers,
                   batch_size_per_gpu=args.batch, dataset_enlarge_ratio=100, prefetch_mode=None)
    if recipe.sampler:
        dataset['hes'] = dict(stats_file=str(root / f'hes_stats_X{scale}.npz'), num_classes=10)
        dataset['sampler'] = study_samplers(args.iters)[recipe.sampler]
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
        options['model_type'] = 'HESSRModel' if recipe.sampler else 'SRModel'
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
        run([sys.executable, str(PACKAGE / 'train.py'), '-opt', str(option_file), '--auto_resume'],
            root, log)
    train_seconds = time.time() - started
    if calibrate:
        calibrated = result_path.parent / f'{name}_calibrated.pth'
        run([sys.executable, '-m', 'wbsr_cli.calibrate', '--model', str(checkpoint), '--gt',
             str(args.train / 'DIV2K_train_HR_sub.lmdb'), '--lq',
             str(args.train / f'DIV2K_train_LR_bicubic_X{args.scale}_sub.lmdb'), '--max-images', '300', '--output',
             str(calibrated), '-opt', str(root / 'study' / f'{name}_train.yml')], root, log)
        checkpoint = calibrated
    option_file = result_path.parent / f'{name}_{tag}.yml'
    option_file.write_text(yaml.safe_dump(test_options(recipe, seed, args, checkpoint, rows, tag), sort_keys=False))
    run([sys.executable, str(PACKAGE / 'test.py'), '-opt', str(option_file)], root, log)
    tables = {dataset: json.loads((root / 'results' / f'{name}_{tag}' / f'wbsr_table_{dataset}.json').read_text())
              for dataset in args.sets}
    result = dict(recipe=recipe.text, seed=seed, train_seconds=train_seconds,
                  subnets=next(iter(tables.values()))['subnets'],
                  rows={dataset: table['rows'] for dataset, table in tables.items()})
    write_json(str(result_path), result)
    return result
