"""Compare training recipes at equal iterations: losses, patch samplers and the supernet schedule.

Each recipe is ``<network>[+<sampler>]:<loss>`` (``wbsr_basicsr/studies/runs.py`` says what they
mean), e.g. ``plain:l1``, ``supernet+hes:bd-laplace@0.01``, ``plain+bspa:l1``; the paper's Table 3
at CPU scale is ``--recipes plain:l1 plain+samplingaug:l1 plain+dda:l1 plain+bspa:l1 plain+hes:l1``.

Every recipe is trained with ``wbsr_basicsr/train.py`` and tested with ``wbsr_basicsr/test.py``
(PSNR / SSIM on Y, border ``scale``) for each seed; the table gives mean and spread per set.
Finished runs are skipped, so the same command continues an interrupted study::

    python scripts/training_study.py --train /data/d291_out --bench /data/bench --sets Set5 Set14 \\
        --recipes plain:l1 plain:bd-laplace supernet+hes:bd-laplace --seeds 0 1 --iters 1000

The network and schedule are options; their defaults are the ``cpu`` preset's
(``wbsr_basicsr/studies/presets.py``: MSRResNet num_feat 32, 8 blocks, supernet widths 18/26/32 x
depths 2/4/8, GT 96, batch 8, 2,000 iterations, Adam 5e-4 with cosine decay).
"""
import argparse
import statistics
import sys
from pathlib import Path
from typing import Dict, List

from wbsr_basicsr.studies.presets import PRESETS
from wbsr_basicsr.studies.runs import Recipe, train_and_test

REPO = Path(__file__).resolve().parents[1]
CPU = PRESETS['cpu']


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
    parser.add_argument('--sets', nargs='+', default=CPU['sets'])
    parser.add_argument('--recipes', nargs='+', required=True)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    parser.add_argument('--out', type=Path, default=REPO, help='experiments/, results/ and study/ go here')
    parser.add_argument('--scale', type=int, default=4)
    parser.add_argument('--iters', type=int, default=CPU['iters'])
    parser.add_argument('--lr', type=float, default=CPU['lr'])
    parser.add_argument('--gt-size', type=int, default=CPU['gt_size'])
    parser.add_argument('--batch', type=int, default=CPU['batch'])
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--num-feat', type=int, default=CPU['num_feat'])
    parser.add_argument('--num-block', type=int, default=CPU['num_block'])
    parser.add_argument('--widths', type=int, nargs='+', default=CPU['widths'])
    parser.add_argument('--depths', type=int, nargs='+', default=CPU['depths'])
    parser.add_argument('--num-gpu', type=int, default=CPU['num_gpu'], help='BasicSR num_gpu (0: the CPU)')
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
