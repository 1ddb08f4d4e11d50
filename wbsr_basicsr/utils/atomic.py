"""Outputs that are either complete or absent: build under a temporary name, then rename.

Every file and folder the project writes for a user (checkpoints, tables, priors, LMDBs,
prepared sets) goes through here, so a kill or an error never leaves a half-written output
under its final name. Temporary names start with ``_incomplete_<pid>_`` in the same folder, so
that the rename stays on one file system and leftovers of killed runs are easy to find.
"""
import json
import os
import shutil
from typing import Callable, List, TypeVar

INCOMPLETE_PREFIX = '_incomplete_'
T = TypeVar('T')


def incomplete_path(final_path: str) -> str:
    """Where ``final_path`` is built: same folder, ``_incomplete_<pid>_`` prefix, same name."""
    folder, name = os.path.split(final_path)
    return os.path.join(folder, f'{INCOMPLETE_PREFIX}{os.getpid()}_{name}')


def remove_path(path: str) -> None:
    """Remove a file or folder if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def write_atomically(final_path: str, write: Callable[[str], T]) -> T:
    """Call ``write(tmp_path)``, then rename it to ``final_path`` and return what ``write`` returned;
    on any failure remove the partial output."""
    tmp_path = incomplete_path(final_path)
    try:
        result = write(tmp_path)
        os.replace(tmp_path, final_path)
    except BaseException:
        remove_path(tmp_path)
        raise
    return result


def remove_incomplete(folder: str) -> List[str]:
    """Delete the leftovers of killed runs in ``folder`` (those of processes still running are kept);
    return their names."""
    if not os.path.isdir(folder):
        return []
    stale = sorted(name for name in os.listdir(folder)
                   if name.startswith(INCOMPLETE_PREFIX) and not _writer_alive(name))
    for name in stale:
        remove_path(os.path.join(folder, name))
    return stale


def _writer_alive(name: str) -> bool:
    """Whether the process whose id an ``_incomplete_<pid>_`` name holds is another one still running."""
    pid = name[len(INCOMPLETE_PREFIX):].split('_', 1)[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def write_json(path: str, document: object) -> None:
    """Write ``document`` as indented JSON to ``path``, atomically."""

    def write(tmp_path: str) -> None:
        with open(tmp_path, 'w', encoding='utf-8') as handle:
            json.dump(document, handle, indent=1)

    write_atomically(path, write)
