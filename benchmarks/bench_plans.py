"""Time budgets by plan on benchmark sets, through ``test.py``: does ``--target-time R`` take R x the
full network's time, and does it beat one subnet on the whole image at the time it took?

    python benchmarks/bench_plans.py -n WBSR_MSRResNet_x4_291 --bench <prepare_benchmarks output> \\
        --work bench_plans [--sets Set5 Set14] [--targets 0.5 0.65 0.8] [--rounds 2] [--threads 2] \\
        [--units-alone] [--max-images N] [--load K]

One ``test.py`` run per round, every set twice (the first pass warms every shape, then is dropped),
with the rows: every subnet on the whole image, then the plan row at each target at image and
at folder (``dataset``) scope with the default units, and with ``--units-alone`` one unit alone
(``image``, ``tile160``, ``patch``) at both scopes. Images run row after row, so every row meets the
same machine noise. ``--max-images N`` keeps N images of each set, evenly spaced. ``--load K`` runs K
competing processes beside ``test.py`` for the whole run, as a busy desktop would: each a single
thread multiplying 512 x 512 matrices without pause (``wbsr_basicsr.utils.clock.LOAD``). Printed per
set and row: the measured seconds over the full network's (each round),
PSNR-Y, the row's margin over the whole-image subnets' frontier at its time (the upper concave
hull of their (time, PSNR) points: what mixing them image by image gives), the units its
plans used and how many subnets ran (1: one subnet everywhere, no mixed plan); a markdown table
of the same into ``<work>/plans.md``.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

from wbsr_basicsr.inference.supernet_entry import SupernetEntry
from wbsr_basicsr.routing.frontier import frontier_at
from wbsr_basicsr.utils.clock import competing
from wbsr_basicsr.zoo import model_path

SINGLE_UNITS = ('image', 'tile160', 'patch')


def rows(targets: Sequence[float], alone: bool) -> List[Dict]:
    plans = [dict(mode='plan', target=list(targets), scope=scope) for scope in ('image', 'dataset')]
    singles = [dict(mode='plan', target=list(targets), scope=scope, units=[unit]) for scope in ('image', 'dataset')
               for unit in SINGLE_UNITS]
    return [dict(mode='whole', subnet='all')] + plans + (singles if alone else [])


def image_subset(bench: Path, dataset: str, scale: int, count: Optional[int], work: Path) -> Tuple[str, str]:
    """The set's GT and LR folders, or with ``count`` folders of links to that many of its images,
    evenly spaced."""
    gt, lq = bench / dataset / 'GTmod12', bench / dataset / f'LRbicx{scale}'
    names = sorted(os.listdir(gt))
    if count is None or count >= len(names):
        return str(gt), str(lq)
    kept = [names[round(k * (len(names) - 1) / max(1, count - 1))] for k in range(count)]
    for source, role in ((gt, 'GTmod12'), (lq, f'LRbicx{scale}')):
        folder = work / 'subsets' / f'{dataset}_{count}' / role
        folder.mkdir(parents=True, exist_ok=True)
        for name in kept:
            if not (folder / name).exists():
                (folder / name).symlink_to(source / name)
    subset = work / 'subsets' / f'{dataset}_{count}'
    return str(subset / 'GTmod12'), str(subset / f'LRbicx{scale}')


def options(model: str, args: argparse.Namespace, scale: int, name: str) -> Dict:
    datasets = {}
    for dataset in args.sets:
        gt, lq = image_subset(args.bench.resolve(), dataset, scale, args.max_images, args.work.resolve())
        for role in ('warm', 'timed'):
            datasets[f'test_{len(datasets) + 1}'] = dict(
                name=f'{dataset}_{role}', type='PairedImageDataset', io_backend=dict(type='disk'),
                dataroot_gt=gt, dataroot_lq=lq)
    psnr = dict(type='calculate_psnr', crop_border=scale, test_y_channel=True)
    return dict(name=name, model_type='WBSRModel', scale=scale, num_gpu=0, manual_seed=0, datasets=datasets,
                network_g=SupernetEntry.read(model).network,
                path=dict(pretrain_network_g=model, strict_load_g=True, param_key_g='params'),
                val=dict(save_img=False, rows=rows(args.targets, args.units_alone), metrics=dict(psnr=psnr)))


def report(tables: List[Dict], dataset: str) -> List[str]:
    """Per row of the plan rows: measured share per round, PSNR, frontier at its time, margin, plans."""
    rounds = [{row['row']: row for row in table['rows']} for table in tables]
    whole = [label for label in rounds[0] if label.startswith('whole_')]
    full = whole[-1]
    lines = []
    for label, row in rounds[0].items():
        if label in whole:
            continue
        shares = [r[label]['seconds'] / r[full]['seconds'] for r in rounds]
        margins = []
        for r in rounds:
            points = [(r[w]['seconds'], r[w]['psnr']) for w in whole]
            margins.append(r[label]['psnr'] - frontier_at(points, r[label]['seconds']))
        plans = ', '.join(f'{unit} {count}' for unit, count in row.get('plans', {}).items())
        plans += f"; {sum(share > 0 for share in row['usage'])} subnet(s)"  # 1: one subnet everywhere, not mixed
        lines.append(f"| {dataset} | {label} | {' / '.join(f'{s:.2f}' for s in shares)} | {row['psnr']:.3f} | "
                     f"{' / '.join(f'{m:+.3f}' for m in margins)} | {plans} |")
    fulls = ' / '.join(f"{1e3 * r[full]['seconds']:.0f}" for r in rounds)
    subnets = '; '.join(f"{w[6:]} {rounds[0][w]['seconds'] / rounds[0][full]['seconds']:.2f} "
                        f"{rounds[0][w]['psnr']:.3f}" for w in whole)
    return lines + [f'| {dataset} | whole subnets (share, PSNR-Y; full {fulls} ms per image) | {subnets} | | | |']


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-n', '--model-name', default='WBSR_MSRResNet_x4_291')
    parser.add_argument('--model', help='a checkpoint instead of a shipped name')
    parser.add_argument('--scale', type=int, help="the model's scale (default: the shipped name's)")
    parser.add_argument('--bench', type=Path, required=True, help="prepare_benchmarks.py's output folder")
    parser.add_argument('--work', type=Path, required=True)
    parser.add_argument('--sets', nargs='+', default=['Set5', 'Set14'])
    parser.add_argument('--targets', type=float, nargs='+', default=[0.5, 0.65, 0.8])
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--threads', type=int, default=2, help='OMP_NUM_THREADS of the test.py runs')
    parser.add_argument('--units-alone', action='store_true', help='also each unit alone at both scopes')
    parser.add_argument('--max-images', type=int, help='this many images of each set, evenly spaced')
    parser.add_argument('--load', type=int, default=0, help='competing single-thread processes during the run')
    args = parser.parse_args()
    model = args.model or str(model_path(args.model_name))
    scale = args.scale or int(args.model_name.split('_x')[1].split('_')[0])
    tables = {dataset: [] for dataset in args.sets}
    for index in range(args.rounds):
        name = f'plans_round{index + 1}'
        option_file = args.work / 'options' / f'{name}.yml'
        option_file.parent.mkdir(parents=True, exist_ok=True)
        option_file.write_text(yaml.safe_dump(options(model, args, scale, name), sort_keys=False))
        results = args.work / 'results' / name
        if not all((results / f'wbsr_table_{d}_timed.json').exists() for d in args.sets):
            env = dict(os.environ, WBSR_ROOT=str(args.work.resolve()), OMP_NUM_THREADS=str(args.threads))
            with competing(args.load):
                subprocess.run([sys.executable, '-m', 'wbsr_basicsr.test', '-opt', str(option_file)],
                               env=env, check=True, stdout=subprocess.DEVNULL)
        for dataset in args.sets:
            tables[dataset].append(json.loads((results / f'wbsr_table_{dataset}_timed.json').read_text()))
    load = f', {args.load} competing process(es)' if args.load else ', quiet'
    lines = [f'{model}, {args.threads} threads{load}, {args.rounds} rounds (shares per round)', '',
             '| set | row | measured time / full | PSNR-Y | vs whole-image frontier | plans (images) |',
             '|---|---|---|---|---|---|']
    for dataset in args.sets:
        lines += report(tables[dataset], dataset)
    text = '\n'.join(lines)
    (args.work / 'plans.md').write_text(text + '\n')
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
