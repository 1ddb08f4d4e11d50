"""What ``wbsr-infer`` owns in an output folder, and proof of it (docs/inference.md, "Inputs and outputs").

- **One run at a time.** :meth:`OutputFolder.claim` locks the hidden :data:`LOCK` file (an
  advisory ``flock``, released by the system when a run dies, so a dead run's lock is taken over);
  a second run into the folder is refused in one line naming the first one's pid.
- **The ledger is the only proof that a file is ours.** The hidden :data:`LEDGER` lists, one name
  a line, every output the command wrote there and, before each is created, the temporary name it
  is built under (:func:`~wbsr_basicsr.utils.atomic.partial_path`). A file the ledger does not list
  is the user's, whatever its name.
- **Leftovers.** A temporary name the ledger lists whose writer is dead is a killed run's leftover:
  removed if it is a plain file, never a folder or a link; nothing else is ever removed.
- **Damage.** A ledger with lines that are not file names (bytes that are not UTF-8, a path, a
  line cut short by a kill) is reported and rewritten with the names it still holds, never
  appended to as it is.
"""
import os
from pathlib import Path
from typing import Callable, List, Optional, Set, Tuple, TypeVar

from wbsr_basicsr.utils.atomic import is_partial, partial_path, writer_alive, write_atomically

try:
    import fcntl
except ImportError:  # not a POSIX system: runs are not locked
    fcntl = None

LEDGER = '.wbsr-outputs'
"""The hidden file, in an output folder, that lists what the command wrote (and started writing) there."""
LOCK = '.wbsr-lock'
"""The hidden file a run locks while it writes in an output folder (it holds the run's pid)."""
T = TypeVar('T')


def is_name(line: str) -> bool:
    """Whether a ledger line can be the name of a file in the folder."""
    return bool(line) and line not in ('.', '..') and '/' not in line and '\0' not in line and (
        os.altsep is None or os.altsep not in line)


def read_names(path: Path) -> Tuple[List[str], int]:
    """The names a ledger file lists and the number of its lines that are not names (a last line without
    its newline was cut short by a kill: it counts as damaged)."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return [], 0
    lines = data.split(b'\n')
    complete, cut = lines[:-1], [lines[-1]] if lines[-1] else []
    names, damaged = [], len(cut)
    for raw in complete:
        try:
            line = raw.decode('utf-8')
        except UnicodeDecodeError:
            damaged += 1
            continue
        if is_name(line):
            names.append(line)
        else:
            damaged += 1
    return names, damaged


class OutputFolder:
    """An output folder claimed by this run: its ledger read (and mended), leftovers removed, the lock held
    until :meth:`release`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.notes: List[str] = []  # what the claim did, one line each, for the command to print
        self._lock: Optional[int] = None
        names, damaged = read_names(folder / LEDGER)
        self.outputs: Set[str] = {name for name in names if not is_partial(name)}
        self._started = [name for name in names if is_partial(name)]
        self._damaged = damaged

    @classmethod
    def claim(cls, folder: Path) -> 'OutputFolder':
        """Create ``folder`` if needed, lock it for this run, read its ledger, remove the leftovers of killed
        runs it lists and rewrite it if it was damaged or listed leftovers; ``ValueError`` naming the
        folder when it cannot be written or another run holds it."""
        if folder.exists() and not folder.is_dir():
            raise ValueError(f'-o {folder}: exists and is not a folder.')
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
            while not _take(lock, folder):  # the run that held it removed it as it ended: lock the new one
                lock = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise ValueError(f'-o {folder}: cannot write there ({error.strerror or error}).') from None
        claimed = cls(folder)
        claimed._lock = lock
        claimed._tidy()
        return claimed

    def owns(self, path: Path) -> bool:
        """Whether ``path`` (in this folder) is an output an earlier run of the command wrote."""
        return path.parent.resolve() == self.folder.resolve() and path.name in self.outputs

    def write(self, path: Path, write: Callable[[], T]) -> T:
        """Call ``write()``, which writes ``path`` atomically (under :func:`partial_path`), with that
        temporary name recorded in the ledger first and ``path`` after."""
        self._append(os.path.basename(partial_path(str(path))))
        result = write()
        self._append(path.name)
        self.outputs.add(path.name)
        return result

    def release(self) -> None:
        """Let another run write here (the lock file goes; the ledger stays)."""
        if self._lock is None:
            return
        try:
            os.remove(self.folder / LOCK)
        except FileNotFoundError:
            pass
        os.close(self._lock)
        self._lock = None

    def _tidy(self) -> None:
        """Remove the leftovers the ledger lists; rewrite it without them (and without damage)."""
        for name in self._started:
            path = self.folder / name
            if path.is_file() and not path.is_symlink() and not writer_alive(name):
                path.unlink()
                self.notes.append(f'removed {name}, left in {self.folder} by a killed run')
        if self._damaged:
            self.notes.append(f'{self.folder / LEDGER}: damaged ({self._damaged} line(s) that name no file); '
                              f'rebuilt with the {len(self.outputs)} output name(s) it still held')
        if self._damaged or self._started:
            text = ''.join(f'{name}\n' for name in sorted(self.outputs))
            write_atomically(str(self.folder / LEDGER), lambda tmp: Path(tmp).write_text(text, encoding='utf-8'))

    def _append(self, name: str) -> None:
        with open(self.folder / LEDGER, 'a', encoding='utf-8') as handle:
            handle.write(name + '\n')


def _take(lock: int, folder: Path) -> bool:
    """Hold the lock on the open lock file ``lock`` and write this run's pid in it; False (``lock``
    closed) if the file was removed meanwhile, ``ValueError`` if another live run holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(lock, 32, 0).decode('ascii', 'replace').strip()
        os.close(lock)
        raise ValueError(f'-o {folder}: another run of the command{f" (pid {holder})" if holder else ""} is writing '
                         'there; wait for it to end, or give another -o.') from None
    try:
        current = os.stat(folder / LOCK).st_ino
    except FileNotFoundError:
        current = None
    if current != os.fstat(lock).st_ino:
        os.close(lock)
        return False
    os.ftruncate(lock, 0)
    os.pwrite(lock, str(os.getpid()).encode(), 0)
    return True
