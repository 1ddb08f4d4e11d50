"""Benchmark test sets -> mod-cropped HR and bicubic LR folders in BasicSR's layout.

    python datasets_prep/prepare_benchmarks.py --input datasets/raw --output datasets \\
        [--div8k datasets/raw/DIV8K] [--scales 2 3 4] [--lmdb]

``--input`` holds one folder of HR images per set, named as the set: the standard ones (Set5,
Set14, B100, Urban100, Manga109) or any of your own (hidden folders and folders without images are
passed over). ``--div8k`` is the DIV8K HR folder (``1201.png`` ...); from it,
following ClassSR's split:

- Test2K: images 1201-1300, bicubic-downsampled by 4 (to about 2K),
- Test4K: images 1301-1400, bicubic-downsampled by 2 (to about 4K),
- Test8K: images 1401-1500 as they are.

ClassSR states the split and the target resolutions but not the factor; 1/4 and 1/2 of
DIV8K's ~8K side are what reach 2K and 4K. Every HR image is then cropped to multiples of 12
(so x2, x3 and x4 align) and downsampled with MATLAB-compatible bicubic. Output per set::

    <output>/<set>/GTmod12/<name>.png
    <output>/<set>/LRbicx{s}/<name>.png        (and GTmod12.lmdb, LRbicx{s}.lmdb with --lmdb)

Grayscale images become 3 channels (logged). Each set is built under a hidden partial name
(``.<name>.wbsr-partial-<pid>``) and renamed when complete; a re-run skips complete sets.
"""
import argparse
import multiprocessing
import os
import time
from typing import Dict, List, Optional, Tuple

import cv2
from tqdm import tqdm

from wbsr_basicsr.prepare.common import (BadInput, LmdbWriter, bicubic_downsample, folder_bytes, image_files,
                                           inputs_fingerprint, list_images, manifest_settings, mod_crop, read_bgr,
                                           settings_mismatch, write_manifest)
from wbsr_basicsr.utils.atomic import remove_partial, write_atomically

STANDARD_SETS = ('Set5', 'Set14', 'B100', 'Urban100', 'Manga109')
DIV8K_SETS = {'Test2K': (1201, 1300, 4), 'Test4K': (1301, 1400, 2), 'Test8K': (1401, 1500, 1)}
MODULUS = 12
MADE_BY = 'datasets_prep/prepare_benchmarks.py'


def collect_sets(input_root: Optional[str], div8k: Optional[str]) -> Dict[str, Tuple[List[str], int]]:
    """Set name -> (HR image paths, pre-downsampling factor)."""
    sets: Dict[str, Tuple[List[str], int]] = {}
    if input_root is not None:
        for name in sorted(os.listdir(input_root)):
            folder = os.path.join(input_root, name)
            if name.startswith('.') or not os.path.isdir(folder) or (div8k and os.path.samefile(folder, div8k)):
                continue
            if image_files(folder):
                sets[name] = (list_images(folder), 1)
    if div8k is not None:
        by_index = {}
        for path in list_images(div8k):
            stem = os.path.splitext(os.path.basename(path))[0]
            if stem.isdigit():
                by_index[int(stem)] = path
        for name, (first, last, factor) in DIV8K_SETS.items():
            missing = [i for i in range(first, last + 1) if i not in by_index]
            if missing:
                raise BadInput(f'{div8k}: {name} needs DIV8K images {first}-{last}; missing {missing[:5]}'
                               + (' ...' if len(missing) > 5 else '') + '.')
            sets[name] = ([by_index[i] for i in range(first, last + 1)], factor)
    if not sets:
        raise BadInput(f'No benchmark sets found: --input needs folders of HR images (e.g. {", ".join(STANDARD_SETS)}, '
                       'or your own); or give --div8k.')
    return sets


def process_image(job: Tuple[str, int, Tuple[int, ...]]) -> Tuple[str, Optional[str], List[str], dict]:
    """Read one HR image, pre-downsample, mod-crop, make its LR images. Returns PNG-ready arrays."""
    path, factor, scales = job
    notes: List[str] = []
    try:
        image = read_bgr(path, notes)
        if factor > 1:
            image = bicubic_downsample(image, factor)
        hr = mod_crop(image, MODULUS)
        if min(hr.shape[:2]) < MODULUS:
            raise BadInput(f'{path}: {image.shape[1]}x{image.shape[0]} is too small for x{max(scales)}.')
        images = {'GTmod12': hr, **{f'LRbicx{s}': bicubic_downsample(hr, s) for s in scales}}
        return path, None, notes, images
    except BadInput as error:
        return path, str(error), notes, {}


def build_set(name: str, paths: List[str], factor: int, args: argparse.Namespace) -> Tuple[int, List[str]]:
    """Write one set under an incomplete name and rename it; returns (images, skipped problems)."""
    return write_atomically(os.path.join(args.output, name), lambda tmp: write_set(tmp, name, paths, factor, args))


def write_set(folder: str, name: str, paths: List[str], factor: int, args: argparse.Namespace
              ) -> Tuple[int, List[str]]:
    """GT and LR images (and LMDBs) of one set into ``folder``; returns (images, skipped problems)."""
    scales = tuple(sorted(set(args.scales)))
    folders = ['GTmod12', *(f'LRbicx{s}' for s in scales)]
    skipped: List[str] = []
    count = 0
    for sub in folders:
        os.makedirs(os.path.join(folder, sub))
    jobs = [(path, factor, scales) for path in paths]
    with multiprocessing.get_context('fork').Pool(args.workers) as pool:
        for path, error, notes, images in tqdm(pool.imap(process_image, jobs), total=len(jobs), desc=name,
                                               unit='img'):
            for note in notes:
                print(f'[bench] note: {note}')
            if error is not None:
                if not args.skip_bad:
                    raise BadInput(error)
                skipped.append(error)
                continue
            stem = os.path.splitext(os.path.basename(path))[0]
            for sub, image in images.items():
                cv2.imwrite(os.path.join(folder, sub, f'{stem}.png'), image)
            count += 1
    if count == 0:
        raise BadInput(f'{name}: every image was skipped; nothing to write.')
    if args.lmdb:
        for sub in folders:
            pack_folder(os.path.join(folder, sub), os.path.join(folder, f'{sub}.lmdb'), name)
    write_manifest(folder, MADE_BY, set_settings(name, paths, factor, args))
    return count, skipped


def pack_folder(folder: str, lmdb_path: str, set_name: str) -> None:
    """Pack a folder of PNGs into a BasicSR LMDB (keys: file stems)."""
    writer = LmdbWriter(lmdb_path, dict(set=set_name), compress_level=1, made_by=MADE_BY)
    try:
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), 'rb') as handle:
                data = handle.read()
            image = cv2.imread(os.path.join(folder, name), cv2.IMREAD_UNCHANGED)
            writer.put(os.path.splitext(name)[0], (data, image.shape))
        writer.finish()
    except BaseException:
        writer.abandon()
        raise


def set_settings(name: str, paths: List[str], factor: int, args: argparse.Namespace) -> dict:
    """What a set depends on: its settings, and the HR images it was made from (their fingerprint)."""
    return dict(set=name, pre_downsample=factor, modulus=MODULUS, scales=sorted(set(args.scales)), lmdb=args.lmdb,
                inputs=inputs_fingerprint(paths))


def run(args: argparse.Namespace) -> int:
    start = time.time()
    if any(s not in (2, 3, 4) for s in args.scales):
        raise BadInput(f'--scales {args.scales}: choose from 2, 3, 4.')
    sets = collect_sets(args.input, args.div8k)
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise BadInput(f'{args.output}: output path exists and is not a folder.')
    todo = {}
    for name, (paths, factor) in sets.items():
        final = os.path.join(args.output, name)
        if not os.path.lexists(final):
            todo[name] = (paths, factor)
            continue
        recorded = manifest_settings(final)
        if recorded is None:
            raise BadInput(f'{final}: exists but was not made by prepare_benchmarks.py; move it away or choose '
                           'another --output.')
        wanted = set_settings(name, paths, factor, args)
        if recorded != wanted:
            raise BadInput(settings_mismatch(final, recorded, wanted))
        print(f'[bench] complete, skipped: {final}')
    os.makedirs(args.output, exist_ok=True)
    for stale in remove_partial(args.output):
        print(f'[bench] removed {stale}, left by an interrupted run')
    skipped: List[str] = []
    for name, (paths, factor) in todo.items():
        count, problems = build_set(name, paths, factor, args)
        skipped += problems
        final = os.path.join(args.output, name)
        print(f'[bench] {final}: {count} images, {folder_bytes(final) / 2**20:.1f} MiB')
    print(f'[bench] done in {time.time() - start:.1f} s: {len(todo)} set(s) built, {len(sets) - len(todo)} '
          'already complete')
    if skipped:
        print(f'[bench] skipped {len(skipped)} bad input(s):')
        for problem in skipped:
            print(f'[bench]   {problem}')
    return 0
