"""Reproduce the paper's Table 2 (ablations of WBSR, x4 MSRResNet) in one resumable command.

    python scripts/reproduce.py --train datasets/DIV2K --bench datasets --preset cpu --seeds 2 [--out DIR]

Trains, for each seed, the four configurations of Table 2 through ``wbsr_basicsr/train.py``:

- SRResNet (the baseline): the plain network, L1, uniform crops;
- +HES: the plain network, L1, Hierarchical Equalization Sampling;
- +Lbd: the plain network, BDLoss (Laplace, b = 0.01, the shipped reading), uniform crops;
- WBSR: the supernet, HES and BDLoss;

then tests them with ``wbsr_basicsr/test.py``: the first three as plain networks, WBSR routed at
``--target`` of the full FLOPs over each set (``scope: dataset``) on the paper's ladder and, after
``scripts/calibrate_routing.py`` on the training LMDBs, on the Pareto ladder, and with its full
network (WBSR-dagger). Prints Table 2 in the paper's layout (mean +- std over seeds; the paper's
figures beside ours when the preset and sets match its setting) and writes it as
``<out>/reproduce/table2_<preset>.json`` and ``.md``.

Presets: ``cpu`` (sized for 2 CPU cores) and ``paper`` (the shipped option files' sizes, one
GPU), in ``wbsr_basicsr/studies/presets.py``. Every value can be overridden (``--iters`` ...).

Resumable: a finished run (its result file) is skipped, a killed one continues
(``--auto_resume``); runs started with other settings are refused (use another ``--out``).
``--train``: ``prepare_div2k.py`` output; ``--bench``: ``prepare_benchmarks.py`` output.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from wbsr_basicsr.studies.presets import PRESETS
from wbsr_basicsr.studies.runs import Recipe, train_and_test
from wbsr_basicsr.utils.atomic import write_atomically, write_json

REPO = Path(__file__).resolve().parents[1]
CONFIGS = (('SRResNet', 'plain:l1'), ('+HES', 'plain+hes:l1'), ('+Lbd', 'plain:bd-laplace@0.01'),
           ('WBSR', 'supernet+hes:bd-laplace@0.01'))
PAPER_TABLE2 = {  # MSRResNet x4 rows of the paper's Table 2: PSNR, SSIM, % FLOPs
    'Test2K': {'SRResNet': (26.19, 0.7624, 100), '+HES': (26.24, 0.7665, 69), '+Lbd': (26.21, 0.7658, 69),
               'WBSR': (26.26, 0.7673, 65), 'WBSR-dagger': (26.38, 0.7684, 100)},
    'Test4K': {'SRResNet': (27.65, 0.7966, 100), '+HES': (27.71, 0.7986, 66), '+Lbd': (27.70, 0.7984, 66),
               'WBSR': (27.73, 0.7993, 62), 'WBSR-dagger': (27.80, 0.8026, 100)},
}


def table_rows(target: float) -> Dict[str, Tuple[str, Optional[str]]]:
    """Table 2's lines: (configuration, test row label; None: the full network)."""
    return {'SRResNet': ('SRResNet', None), '+HES': ('+HES', None), '+Lbd': ('+Lbd', None),
            'WBSR': ('WBSR', f'target_{target:g}_dataset'),
            'WBSR (Pareto ladder)': ('WBSR', f'target_{target:g}_dataset_pareto'),
            'WBSR-dagger': ('WBSR', None)}


def test_rows(supernet: bool, target: float) -> List[Dict]:
    if not supernet:
        return [dict(mode='fixed', subnet='full')]
    return [dict(mode='target_flops', target=target, scope='dataset', ladder='full'),
            dict(mode='target_flops', target=target, scope='dataset', ladder='pareto'),
            dict(mode='fixed', subnet='full')]


def entry(result: Dict, dataset: str, label: Optional[str]) -> Dict:
    rows = result['rows'][dataset]
    return rows[-1] if label is None else next(row for row in rows if row['row'] == label)


def summarise(results: Dict[str, List[Dict]], args: argparse.Namespace) -> Dict:
    """Per line of Table 2 and set: PSNR and SSIM (mean, std, per seed), FLOPs (G per patch, %)."""
    table = {}
    for line, (config, label) in table_rows(args.target).items():
        cells = {}
        for dataset in args.sets:
            chosen = [entry(result, dataset, label) for result in results[config]]
            cells[dataset] = {metric: dict(mean=statistics.mean(e[metric] for e in chosen),
                                           std=statistics.stdev(e[metric] for e in chosen) if len(chosen) > 1 else 0.,
                                           seeds=[e[metric] for e in chosen]) for metric in ('psnr', 'ssim')}
            cells[dataset].update(gflops=statistics.mean(e['gflops'] for e in chosen),
                                  flops_percent=statistics.mean(e['flops_percent'] for e in chosen))
        table[line] = cells
    return table


def markdown(table: Dict, args: argparse.Namespace) -> str:
    paper = args.preset == 'paper' and all(dataset in PAPER_TABLE2 for dataset in args.sets)
    header = '| Method (x4) | ' + ' | '.join(f'{d} PSNR | {d} SSIM | {d} #FLOPs (G)' for d in args.sets) + ' |'
    lines = [f'Table 2, preset `{args.preset}`, {len(args.seeds)} seed(s), WBSR at {args.target:g} of the full '
             'FLOPs (dataset scope); mean +- std over seeds' + ('; paper in brackets' if paper else ''), '',
             header, '|---|' + '---|---|---|' * len(args.sets)]
    for line, cells in table.items():
        parts = []
        for dataset in args.sets:
            cell = cells[dataset]
            reference = PAPER_TABLE2[dataset].get(line) if paper else None
            psnr = f"{cell['psnr']['mean']:.3f} +- {cell['psnr']['std']:.3f}"
            ssim = f"{cell['ssim']['mean']:.4f} +- {cell['ssim']['std']:.4f}"
            if reference:
                psnr, ssim = f'{psnr} [{reference[0]:.2f}]', f'{ssim} [{reference[1]:.4f}]'
            parts.append(f"{psnr} | {ssim} | {cell['gflops']:.3f} ({cell['flops_percent']:.0f}%)")
        lines.append(f'| {line} | ' + ' | '.join(parts) + ' |')
    return '\n'.join(lines)


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--train', type=Path, required=True, help='prepare_div2k.py output (LMDBs, statistics, prior)')
    parser.add_argument('--bench', type=Path, required=True, help='prepare_benchmarks.py output')
    parser.add_argument('--preset', choices=tuple(PRESETS), required=True)
    parser.add_argument('--seeds', type=int, default=2, help='how many seeds (0, 1, ...)')
    parser.add_argument('--target', type=float, default=0.65, help="WBSR's share of the full FLOPs")
    parser.add_argument('--out', type=Path, default=REPO, help='experiments/, results/, study/ and reproduce/ go here')
    parser.add_argument('--scale', type=int, default=4)
    parser.add_argument('--workers', type=int, default=2, help='data-loading workers per run')
    parser.add_argument('--sets', nargs='+', help='test sets in --bench (default: the preset\'s)')
    for name in ('iters', 'gt_size', 'batch', 'num_feat', 'num_block', 'num_gpu'):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, help='overrides the preset')
    parser.add_argument('--lr', type=float, help='overrides the preset')
    parser.add_argument('--widths', type=int, nargs='+', help='overrides the preset')
    parser.add_argument('--depths', type=int, nargs='+', help='overrides the preset')
    args = parser.parse_args(argv)
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.seeds < 1:
        parser.error('--seeds must be at least 1.')
    args.seeds = list(range(args.seeds))
    args.train, args.bench, args.out = args.train.resolve(), args.bench.resolve(), args.out.resolve()
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    started = time.time()
    results: Dict[str, List[Dict]] = {}
    for config, text in CONFIGS:
        recipe = Recipe.parse(text)
        for seed in args.seeds:
            print(f'[reproduce] {config} ({text}) seed {seed}', flush=True)
            results.setdefault(config, []).append(
                train_and_test(recipe, seed, args, test_rows(recipe.supernet, args.target), f'reproduce_{args.preset}',
                               calibrate=recipe.supernet))
    table = summarise(results, args)
    text = markdown(table, args)
    stem = args.out / 'reproduce' / f'table2_{args.preset}'
    stem.parent.mkdir(parents=True, exist_ok=True)
    write_json(f'{stem}.json', dict(preset=args.preset, seeds=args.seeds, target=args.target, sets=args.sets,
                                    table=table))
    write_atomically(f'{stem}.md', lambda tmp_path: Path(tmp_path).write_text(text + '\n'))
    print(text)
    print(f'[reproduce] {stem}.json and .md written; this invocation took {time.time() - started:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
