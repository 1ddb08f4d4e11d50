"""The user's cache folder: what the package measures or builds once per machine and reuses (time
profiles), never written beside a user's files.

``$WBSR_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/wbsr_basicsr``, else ``~/.cache/wbsr_basicsr``.
"""
import os
from pathlib import Path

CACHE_VARIABLE = 'WBSR_CACHE_DIR'


def cache_folder(*parts: str) -> Path:
    """The cache folder (or ``parts`` below it), not created."""
    if os.environ.get(CACHE_VARIABLE):
        root = Path(os.environ[CACHE_VARIABLE])
    else:
        root = Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache') / 'wbsr_basicsr'
    return root.joinpath(*parts)
