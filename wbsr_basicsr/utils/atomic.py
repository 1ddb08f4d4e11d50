"""Outputs that are either complete or absent: build under a temporary name, then rename.

Every file and folder the project writes for a user (checkpoints, tables, priors, LMDBs,
prepared sets, exports, SR images) goes through here, so a kill or an error never leaves a
half-written output under its final name. The temporary name of ``<stem><.ext>`` is
``.<stem>.wbsr-partial-<pid><.ext>`` (the extension last, for writers that choose a format by it)
in the same folder: hidden, so that no command reads it as an input; in the same folder, so the
rename stays on one file system; in a form no user picks, so that :func:`remove_partial` removes
only what a killed run of this project left, never a user's file or folder.
"""
import json
import os
import re
import shutil
from typing import Callable, List, TypeVar

PARTIAL_NAME = re.compile(r'^\.(?P<stem>.+)\.wbsr-partial-(?P<pid>[0-9]+)(?P<ext>\.[^.]+)?$')
T = TypeVar('T')


def partial_path(final_path: str) -> str:
    """Where ``final_path`` is built: same folder, ``.<stem>.wbsr-partial-<pid><.ext>``."""
    folder, name = os.path.split(final_path)
    stem, ext = os.path.splitext(name)
    return os.path.join(folder, f'.{stem or ext}.wbsr-partial-{os.getpid()}{ext if stem else ""}')


def is_partial(name: str) -> bool:
    """Whether ``name`` is the temporary name of an output this project was writing."""
    return PARTIAL_NAME.match(name) is not None


def remove_path(path: str) -> None:
    """Remove a file or folder if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def write_atomically(final_path: str, write: Callable[[str], T]) -> T:
    """Call ``write(tmp_path)``, then rename it to ``final_path`` and return what ``write`` returned;
    on any failure remove the partial output. A file gets the permissions the umask gives a new
    file, whatever mode the writer created it with."""
    tmp_path = partial_path(final_path)
    try:
        result = write(tmp_path)
        if os.path.isfile(tmp_path):
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, final_path)
    except BaseException:
        remove_path(tmp_path)
        raise
    return result


def remove_partial(folder: str) -> List[str]:
    """Delete the partial outputs of killed runs of this project in ``folder`` (those of processes still
    running are kept); return their names. Nothing else is touched."""
    if not os.path.isdir(folder):
        return []
    stale = sorted(name for name in os.listdir(folder) if _dead_writer(name))
    for name in stale:
        remove_path(os.path.join(folder, name))
    return stale


def _dead_writer(name: str) -> bool:
    """Whether ``name`` is a partial output whose writer is no longer running."""
    return is_partial(name) and not writer_alive(name)


def writer_alive(name: str) -> bool:
    """Whether the process that writes the partial output ``name`` still runs (another than this one)."""
    return _alive(int(PARTIAL_NAME.match(name)['pid']))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process writes under that name only inside write_atomically
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: str, document: object) -> None:
    """Write ``document`` as indented JSON to ``path``, atomically."""

    def write(tmp_path: str) -> None:
        with open(tmp_path, 'w', encoding='utf-8') as handle:
            json.dump(document, handle, indent=1)

    write_atomically(path, write)
