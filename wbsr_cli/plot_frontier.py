"""PSNR (or another metric) against % of the full FLOPs, or against measured milliseconds per image
(``--x time``), from the tables test.py writes.

    wbsr-plot-frontier results/<name>/wbsr_table_<set>.json [...] [--metric psnr] [--output F.png]
    (or python scripts/plot_frontier.py ...)

One curve per router and scope (WBSR per ladder, ARM, ClassSR, the oracle) through its rows,
sorted by FLOPs; the fixed subnets as labelled points and their frontier (the ``vs fixed``
reference) dotted; other rows (``ceil``, ``budget``, ClassSR's argmax) as single markers. Each PNG
lands next to its JSON (``wbsr_table_<set>.png``) unless ``--output`` is given for a single
table. Sweep rows (``target: [0.3, 0.4, ...]``) give the curves their points. With ``--x time`` the
x axis is the measured seconds per image (the table's ``seconds``, first passes included), and the
reference points are the ``whole`` rows (each subnet on the whole image) when the table has them.
"""
import argparse
import sys
from pathlib import Path
from typing import List, Optional

from wbsr_cli import program

SCOPES = ('image', 'dataset', 'train')
"""The scopes of ``wbsr_basicsr.routing.scopes`` (kept here so that parsing imports no torch)."""
X_AXES = ('flops', 'time')
"""The x axes the plot draws (``wbsr_cli.jobs.plot_frontier.AXES``)."""


def parser(prog: Optional[str] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('tables', nargs='+', type=Path, help='wbsr_table_<set>.json files from test.py')
    parser.add_argument('--metric', default='psnr', help='the metric on the y axis (default: psnr)')
    parser.add_argument('--output', type=Path, help='the PNG (one table only; default: next to the JSON)')
    parser.add_argument('--scope', action='append', choices=SCOPES,
                        help='draw only the curves of this scope (repeatable; default: all)')
    parser.add_argument('--x', choices=X_AXES, default='flops',
                        help='the x axis: %% of the full FLOPs (default) or measured milliseconds per image')
    return parser


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None) -> int:
    command = parser(prog)
    args = command.parse_args(argv)
    if args.output and len(args.tables) > 1:
        command.error('--output takes one table; without it each PNG lands next to its JSON.')
    from wbsr_cli.jobs.plot_frontier import run
    return run(args, program(prog))


if __name__ == '__main__':
    sys.exit(main())
