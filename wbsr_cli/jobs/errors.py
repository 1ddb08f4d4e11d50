"""One line instead of a traceback for what a user can fix (docs/install.md, "Errors")."""
import os
import sys
from typing import Callable

TRACEBACK_VARIABLE = 'WBSR_TRACEBACK'
"""Set it (to anything) to see the full traceback of such an error."""


def one_line_errors(name: str, run: Callable[[], object], interrupted: str) -> int:
    """Call ``run``; a ``ValueError`` or ``OSError`` becomes one line ``<name>: <message>`` on stderr and
    exit status 2, Ctrl-C the line ``interrupted`` and 130; 0 otherwise."""
    try:
        run()
    except (ValueError, OSError) as error:
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        where = f'{error.filename}: ' if isinstance(error, OSError) and error.filename else ''
        print(f'{name}: {where}{error.strerror if isinstance(error, OSError) and error.strerror else error}',
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'{name}: interrupted; {interrupted}', file=sys.stderr)
        return 130
    return 0
