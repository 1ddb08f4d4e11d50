"""Calibrate the routing of a trained WBSR supernet, stored in its checkpoint; also installed as ``wbsr-calibrate``.
The command lives in ``wbsr_basicsr/cli/calibrate.py``; ``--help`` lists its options."""
import sys

from wbsr_basicsr.cli.calibrate import main

if __name__ == '__main__':
    sys.exit(main())
