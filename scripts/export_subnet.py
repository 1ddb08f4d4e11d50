"""Export one subnet of a WBSR checkpoint as a plain network file; also installed as ``wbsr-export``.
The command lives in ``wbsr_basicsr/cli/export.py``; ``--help`` lists its options."""
import sys

from wbsr_basicsr.cli.export import main

if __name__ == '__main__':
    sys.exit(main())
