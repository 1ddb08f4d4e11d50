"""``wbsr-prepare-benchmarks`` as a script (its arguments: ``wbsr_cli/prepare.py``; ``--help`` lists them)."""
import sys

from wbsr_cli.prepare import benchmarks as main

if __name__ == '__main__':
    sys.exit(main())
