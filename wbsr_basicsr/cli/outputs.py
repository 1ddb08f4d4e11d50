"""Where the inference command writes, planned before anything is computed, so that no output
replaces an input or another output (docs/inference.md, "Inputs and outputs").

Every input ``<name>.<ext>`` gets ``<output>/<name>_<suffix>.<ext>`` (``--ext`` for another format)
and, with ``--save-map``, ``<name>_<suffix>_subnets.png``. The command lists what it wrote in the
output folder's hidden :data:`LEDGER`; a file listed there, or the output this command would write
for another input (``a_wbsr.png`` beside ``a.png``, when ``-o`` is the input folder), is an earlier
run's output: it is not read as an input, whatever ``--suffix`` made it. Two inputs with one
output, or an output that would replace an input, stop the command before it loads the model.
"""
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Set

from wbsr_basicsr.utils.atomic import partial_path, remove_partial

OUTPUT_FORMATS = ('png', 'jpg', 'jpeg', 'tif', 'tiff', 'webp', 'bmp')
"""What ``--ext`` takes besides ``auto`` (the input's format)."""


def input_files(path: Path) -> List[Path]:
    """``path`` itself, or the files of the folder ``path`` (hidden files and leftovers of killed
    writes left out); ``ValueError`` if there is none."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ValueError(f'{path}: no such file or folder.')
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith('.'))
    if not files:
        raise ValueError(f'{path}: the folder holds no files to upscale.')
    return files


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


def plan_outputs(inputs: List[Path], folder: Path, suffix: str, ext: str, save_map: bool) -> OutputPlan:
    """The outputs of ``inputs`` in ``folder``; ``ValueError`` naming both files for two inputs with
    one output, or an output that would replace an input."""
    def named(sources: List[Path]) -> Dict[Path, Path]:
        return {source: output_path(source, folder, suffix, ext) for source in sources}

    first = named(inputs)
    planned = {out.resolve(): source for source, out in first.items()}
    written = {(folder / name).resolve() for name in read_ledger(folder)}
    earlier = [source for source in inputs if source.resolve() in written
               or (suffix and planned.get(source.resolve(), source) != source)]  # our output of another input
    plan = OutputPlan(named([source for source in inputs if source not in earlier]), {}, earlier)
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
        writers[target] = source
    return plan


LEDGER = '.wbsr-outputs'
"""The hidden file, in an output folder, that lists the outputs the command wrote there."""


def read_ledger(folder: Path) -> Set[str]:
    """The names of the outputs the command wrote in ``folder``."""
    try:
        return set((folder / LEDGER).read_text(encoding='utf-8').splitlines())
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return set()


def record_output(path: Path) -> None:
    """Add the output ``path`` to its folder's ledger (one line appended: a kill mid-write leaves at
    most a partial last name, which matches no file)."""
    with open(path.parent / LEDGER, 'a', encoding='utf-8') as handle:
        handle.write(path.name + '\n')


def prepare_folder(folder: Path) -> List[str]:
    """Create the output ``folder`` if needed and check that it can be written; remove the leftovers of
    killed writes in it and return their names. ``ValueError`` naming the folder otherwise."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f'-o {folder}: exists and is not a folder.')
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = Path(partial_path(str(folder / 'probe')))
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise ValueError(f'-o {folder}: cannot write there ({error.strerror or error}).') from None
    return remove_partial(str(folder))
