"""Plot a test table's metric against FLOPs; also installed as ``wbsr-plot-frontier``.
The command lives in ``wbsr_basicsr/cli/plot_frontier.py``; ``--help`` lists its options."""
import sys

from wbsr_basicsr.cli.plot_frontier import main

if __name__ == '__main__':
    sys.exit(main())
