"""Plot a test table's metric against FLOPs or time; also installed as ``wbsr-plot-frontier``.
The arguments are in ``wbsr_cli/plot_frontier.py``; ``--help`` lists them."""
import sys
from typing import List, Optional

from wbsr_cli import plot_frontier


def main(argv: Optional[List[str]] = None) -> int:
    return plot_frontier.main(argv, prog='plot_frontier.py')


if __name__ == '__main__':
    sys.exit(main())
