"""Helpers shared by the preparation scripts: image reading, bicubic LR, safe outputs."""
import argparse
import hashlib
import json
import os
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from basicsr.utils.lmdb_util import LmdbMaker
from basicsr.utils.matlab_functions import imresize
from wbsr_basicsr.utils.atomic import partial_path, remove_path, write_json
from wbsr_basicsr.utils.image_io import decoding_problem, upright

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')
MANIFEST = 'wbsr_prep.json'
"""Written into every LMDB we make: who made it and with which settings."""


class BadInput(Exception):
    """A problem with one input file or the output folder; the message names it."""


def run_cli(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a script; a :class:`BadInput` or a file-system error becomes one ``error:`` line on stderr and
    exit status 1, Ctrl-C one line and 130 (complete outputs stay, partial ones are removed)."""
    try:
        return run(args)
    except BadInput as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    except OSError as error:
        where = f'{error.filename}: ' if error.filename else ''
        print(f'error: {where}{error.strerror or error}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('interrupted: the outputs finished so far are complete; run the same command again to build the rest.',
              file=sys.stderr)
        return 130


def inputs_fingerprint(paths: Sequence[str]) -> str:
    """A checksum of the input files' names and contents: a prepared output records the one it was
    made from, and a re-run with other inputs (an image added, removed or replaced, even by one of
    the same size) is refused. Hashing reads every byte once (docs/data.md: about 2 s per GB here)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(f'{os.path.basename(path)}\t{file_checksum(path)}\n'.encode())
    return digest.hexdigest()[:16]


def file_checksum(path: str) -> str:
    """The SHA-256 of a file's bytes ('missing' if there is no such file)."""
    if not os.path.exists(path):
        return 'missing'
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def settings_mismatch(path: str, recorded: dict, wanted: dict) -> str:
    """Why an existing output no longer matches what a run asks for, for its error line."""
    changed = sorted(key for key in set(recorded) | set(wanted) if recorded.get(key) != wanted.get(key))
    what = 'other input images' if changed == ['inputs'] else 'other settings (' + ', '.join(
        f'{key}: {recorded.get(key)} there, {wanted.get(key)} now' for key in changed if key != 'inputs') + (
        ', and other input images' if 'inputs' in changed else '') + ')'
    return f'{path}: was made from {what}; delete it to rebuild it, or choose another --output.'



def write_manifest(folder: str, made_by: str, settings: dict) -> None:
    """Record in ``folder`` which script made it and with which settings."""
    write_json(os.path.join(folder, MANIFEST), dict(made_by=made_by, settings=settings))


def manifest_settings(folder: str) -> Optional[dict]:
    """The settings in the manifest of an output folder we made, or ``None`` if it has none."""
    try:
        with open(os.path.join(folder, MANIFEST), encoding='utf-8') as handle:
            return json.load(handle)['settings']
    except (OSError, ValueError, KeyError, TypeError):
        return None


def image_files(folder: str) -> List[str]:
    """Sorted paths of the image files directly in ``folder`` (hidden ones apart)."""
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith('.'))


def list_images(folder: str) -> List[str]:
    """Sorted image paths directly in ``folder``; a clear error if there are none, or if two share a
    name without extension (``0001.png`` and ``0001.jpg``: outputs are keyed by that name)."""
    if not os.path.isdir(folder):
        raise BadInput(f'{folder}: input folder does not exist.')
    paths = image_files(folder)
    if not paths:
        raise BadInput(f'{folder}: input folder holds no images ({", ".join(IMAGE_EXTENSIONS)}).')
    seen: Dict[str, str] = {}
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in seen:
            raise BadInput(f'{seen[stem]} and {path} have the same name {stem!r}; outputs are named by it, so one '
                           'would replace the other. Rename or remove one.')
        seen[stem] = path
    return paths


def read_bgr(path: str, notes: Optional[List[str]] = None) -> np.ndarray:
    """Read a complete 8-bit image as H x W x 3 BGR, upright (EXIF orientation); grayscale becomes 3
    channels (noted), alpha is dropped."""
    problem = decoding_problem(path)
    if problem:
        raise BadInput(f'{path}: a truncated or damaged image ({problem}); replace it, or pass --skip-bad.')
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise BadInput(f'{path}: cannot be read (missing, corrupt or not an image).')
    image = upright(image, path)
    if image.dtype != np.uint8:
        raise BadInput(f'{path}: {image.dtype} images are not supported; convert it to 8 bits per channel.')
    if image.ndim == 2 or image.shape[2] == 1:
        if notes is not None:
            notes.append(f'{path}: grayscale, converted to 3 channels')
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def bicubic_downsample(image: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB-compatible bicubic ``imresize(image, 1/scale)`` of a uint8 image, as uint8."""
    small = imresize(image.astype(np.float64) / 255., 1 / scale)
    return np.clip(np.round(small * 255.), 0, 255).astype(np.uint8)


def mod_crop(image: np.ndarray, modulus: int) -> np.ndarray:
    """The top-left part of ``image`` whose sides are multiples of ``modulus``."""
    height, width = image.shape[:2]
    return image[:height - height % modulus, :width - width % modulus]


def folder_bytes(path: str) -> int:
    """Total size of a file or of every file under a folder."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


class LmdbWriter:
    """A BasicSR ``LmdbMaker`` under a partial name (:func:`partial_path`), renamed by :meth:`finish`."""

    def __init__(self, final_path: str, settings: dict, compress_level: int, made_by: str) -> None:
        self.final_path = final_path
        self.tmp_path = partial_path(final_path)
        self.settings = settings
        self.made_by = made_by
        self.maker = LmdbMaker(self.tmp_path, compress_level=compress_level)

    def put(self, key: str, png: Tuple[bytes, Tuple[int, int, int]]) -> None:
        self.maker.put(png[0], key, png[1])

    def finish(self) -> None:
        self.maker.close()
        write_manifest(self.tmp_path, self.made_by, self.settings)
        os.replace(self.tmp_path, self.final_path)

    def abandon(self) -> None:
        try:
            self.maker.close()
        finally:
            remove_path(self.tmp_path)
