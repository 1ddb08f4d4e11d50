"""Export one subnet of a WBSR checkpoint as a plain network file; also installed as ``wbsr-export``.
The arguments are in ``wbsr_cli/export.py``; ``--help`` lists them."""
import sys
from typing import List, Optional

from wbsr_cli import export


def main(argv: Optional[List[str]] = None) -> int:
    return export.main(argv, prog='export_subnet.py')


if __name__ == '__main__':
    sys.exit(main())
