"""Super-resolve your own LR images with a WBSR checkpoint; also installed as ``wbsr-infer``.
The command lives in ``wbsr_basicsr/cli/inference.py``; ``--help`` lists its options."""
import sys

from wbsr_basicsr.cli.inference import main

if __name__ == '__main__':
    sys.exit(main())
