"""Where the inference command writes, planned before anything is computed, so that no output
replaces an input, another output or a file of the user's (docs/inference.md, "Inputs and outputs").

Every input ``<name>.<ext>`` gets ``<output>/<name>_<suffix>.<ext>`` (``--ext`` for another format)
and, with ``--save-map``, ``<name>_<suffix>_subnets.png``. Only the output folder's ledger
(:mod:`.output_folder`) says what the command wrote: a file it lists is an earlier run's output and
is not read as an input of a folder (named explicitly, it is upscaled); a file it does not list is
the user's, whatever its name, and an output that would replace it stops the command before it
loads the model, as do two inputs with one output.
"""
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

from .output_folder import LEDGER, OutputFolder

OUTPUT_FORMATS = ('png', 'jpg', 'jpeg', 'tif', 'tiff', 'webp', 'bmp')
"""What ``--ext`` takes besides ``auto`` (the input's format)."""


def input_files(path: Path) -> Tuple[List[Path], List[str]]:
    """``path`` itself, or the files of the folder ``path`` (hidden ones left out: the ledger, leftovers of
    killed writes), and a line for each other entry of the folder, which is not read (subfolders, links
    to nothing); ``ValueError`` if there is no file."""
    if path.is_file():
        return [path], []
    if not path.is_dir():
        raise ValueError(f'{path}: no such file or folder.')
    entries = sorted(entry for entry in path.iterdir() if not entry.name.startswith('.'))
    files = [entry for entry in entries if entry.is_file()]
    others = [f'{entry}: {_not_a_file(entry)}, not read' for entry in entries if not entry.is_file()]
    if not files:
        raise ValueError(f'{path}: the folder holds no files to upscale{f" ({len(others)} other entries)" if others else ""}.')
    return files, others


def _not_a_file(entry: Path) -> str:
    if entry.is_symlink() and not entry.exists():
        return f'a link to {os.readlink(entry)}, which does not exist'
    return 'a folder (folders are not searched)' if entry.is_dir() else 'not a regular file'


def check_naming(suffix: str, ext: str) -> None:
    """``ValueError`` for a ``--suffix`` or ``--ext`` no output could be named with."""
    if os.sep in suffix or (os.altsep and os.altsep in suffix):
        raise ValueError(f'--suffix {suffix!r}: a suffix cannot hold a path separator.')
    if ext.lstrip('.').lower() not in ('auto', *OUTPUT_FORMATS):
        raise ValueError(f'--ext {ext!r}: choose auto (the input\'s format) or one of {", ".join(OUTPUT_FORMATS)}.')


@dataclass
class OutputPlan:
    """Each input's output (and allocation map), and the inputs left out as earlier outputs."""

    outputs: Dict[Path, Path] = field(default_factory=dict)
    maps: Dict[Path, Path] = field(default_factory=dict)
    earlier_outputs: List[Path] = field(default_factory=list)

    @property
    def inputs(self) -> List[Path]:
        return list(self.outputs)


def output_path(source: Path, folder: Path, suffix: str, ext: str) -> Path:
    ext = source.suffix.lstrip('.').lower() if ext == 'auto' else ext.lstrip('.').lower()
    return folder / f'{source.stem}_{suffix}.{ext}' if suffix else folder / f'{source.stem}.{ext}'


def plan_outputs(inputs: List[Path], folder: OutputFolder, suffix: str, ext: str, save_map: bool,
                 named_explicitly: bool = False) -> OutputPlan:
    """The outputs of ``inputs`` in ``folder``, leaving out the earlier outputs its ledger lists (unless
    the one input was ``named_explicitly``); ``ValueError`` naming the files for two inputs with one
    output, or an output that would replace an input or a file the ledger does not list."""
    earlier = [] if named_explicitly else [source for source in inputs if folder.owns(source)]
    plan = OutputPlan({source: output_path(source, folder.folder, suffix, ext) for source in inputs
                       if source not in earlier}, {}, earlier)
    if save_map:
        plan.maps = {source: out.with_name(f'{out.stem}_subnets.png') for source, out in plan.outputs.items()}
    writers: Dict[Path, Path] = {}
    kept = {source.resolve(): source for source in plan.outputs}
    for source, out in [*plan.outputs.items(), *plan.maps.items()]:
        target = out.resolve()
        if target in writers:
            raise ValueError(f'{writers[target]} and {source} would both be written to {out}; give --ext auto or '
                             'another --suffix, or rename one.')
        if target in kept:
            raise ValueError(f'{out}, the output of {source}, would replace the input {kept[target]}; give another '
                             '-o or --suffix.')
        if os.path.lexists(out) and not folder.owns(out):
            raise ValueError(f'{out}, the output of {source}, would replace a file this command did not write (the '
                             f'ledger {folder.folder / LEDGER} does not list it); give another -o or --suffix, or '
                             'move the file.')
        writers[target] = source
    return plan
