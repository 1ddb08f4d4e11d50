"""The work of ``wbsr-plot-frontier`` (arguments and usage: ``wbsr_cli/plot_frontier.py``)."""
import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from wbsr_basicsr.routing import ROUTER_REGISTRY  # noqa: E402
from wbsr_basicsr.routing.frontier import upper_frontier  # noqa: E402
from wbsr_basicsr.utils.atomic import write_atomically  # noqa: E402


def curve_name(row: Dict) -> Optional[str]:
    """The legend entry of the curve ``row`` belongs to: rows held to a target in a scope, by router
    (its ``title``), scope and ladder; None for a point of its own."""
    if row.get('scope') is None:
        return None
    title = ROUTER_REGISTRY[row['mode']].title if row['mode'] in ROUTER_REGISTRY else row['mode']
    ladder = f", {row['ladder'].replace('pareto', 'Pareto')} ladder" if row.get('ladder') else ''
    budget_unit = row.get('budget_unit', row.get('unit', 'patch_flops'))  # 'unit' in tables before the rename
    unit = f", {budget_unit.replace('_', ' ')}" if budget_unit != 'patch_flops' else ''
    units = f", {'+'.join(row['units'])}" if row.get('units') else ''
    return f"{title} ({row['scope']} scope{ladder}{unit}{units})"


AXES = {'flops': (lambda row: row['flops_percent'], "% of the full network's FLOPs (per 32 x 32 LR patch)"),
        'time': (lambda row: 1e3 * row['seconds'], 'milliseconds per image (measured)')}


def plot_table(table: Dict, metric: str, output: Path, scopes: Optional[List[str]] = None, x: str = 'flops') -> None:
    """Draw ``table``'s rows (curves of ``scopes`` only, if given) into the PNG ``output``, against
    ``x`` (:data:`AXES`)."""
    rows = [row for row in table['rows'] if not scopes or row.get('scope') in scopes or row['mode'] == 'fixed']
    if not rows or metric not in rows[0]:
        raise ValueError(f"no {metric!r} in the table's rows (metrics: "
                         f"{sorted(k for k in rows[0] if k in ('psnr', 'ssim')) if rows else 'none'}).")
    position, label = AXES[x]
    reference = 'whole' if x == 'time' and any(row['mode'] == 'whole' for row in rows) else 'fixed'
    curves: Dict[str, List[Tuple[float, float]]] = defaultdict(list)
    figure, axes = plt.subplots(figsize=(9, 4.8))
    for row in rows:
        name = curve_name(row)
        if name is not None:
            curves[name].append((position(row), row[metric]))
        elif row['mode'] == reference:
            axes.scatter(position(row), row[metric], color='black', marker='s', s=18, zorder=3)
            axes.annotate(row['row'].replace(f'{reference}_', ''), (position(row), row[metric]), fontsize=7,
                          xytext=(3, -9), textcoords='offset points')
        elif row['mode'] not in ('fixed', 'whole'):
            axes.scatter(position(row), row[metric], marker='*', s=60, label=row['row'], zorder=3)
    colours = iter(plt.get_cmap('tab10').colors)
    for name, points in sorted(curves.items()):
        xs, ys = zip(*sorted(points))
        style = dict(linestyle='--', color='dimgrey' if 'dataset' in name else 'darkgrey') \
            if name.startswith('oracle') else dict(color=next(colours))
        axes.plot(xs, ys, marker='o', markersize=3, label=name, **style)
    hull = upper_frontier([(position(row), row[metric]) for row in rows if row['mode'] == reference])
    if hull:
        axes.plot(*zip(*hull), color='black', linewidth=0.8, linestyle=':', label=f'{reference} subnets\' frontier')
    axes.scatter([], [], color='black', marker='s', s=18,
                 label='subnets on the whole image' if reference == 'whole' else 'fixed subnets')
    axes.set_xlabel(label)
    axes.set_ylabel(metric.upper())
    axes.set_title(f"{table['dataset']}: quality against {'time' if x == 'time' else 'FLOPs'}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    write_atomically(str(output), lambda tmp_path: figure.savefig(tmp_path, format='png', dpi=120))
    plt.close(figure)


def run(args: argparse.Namespace, name: str) -> int:
    """``wbsr-plot-frontier`` with parsed ``args``: one PNG per table; a table that cannot be drawn is
    one line starting with ``name`` (exit status 2)."""
    for path in args.tables:
        try:
            table = json.loads(path.read_text())
            output = args.output or path.with_name(f'{path.stem}{"_time" if args.x == "time" else ""}.png')
            plot_table(table, args.metric, output, args.scope, args.x)
        except (OSError, ValueError) as error:
            print(f'{name}: {path}: {error}', file=sys.stderr)
            return 2
        except KeyError as error:
            print(f'{name}: {path}: not a table written by test.py (no {error} entry).', file=sys.stderr)
            return 2
        print(f'{path} -> {output}')
    return 0
