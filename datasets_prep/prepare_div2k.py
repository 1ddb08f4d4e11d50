"""``wbsr-prepare-div2k`` as a script (its arguments: ``wbsr_cli/prepare.py``; ``--help`` lists them)."""
import sys

from wbsr_cli.prepare import div2k as main

if __name__ == '__main__':
    sys.exit(main())
