"""DIV2K -> BasicSR LMDBs, HES statistics and the BDLoss prior, in one command.

    python datasets_prep/prepare_div2k.py --input datasets/DIV2K --output datasets/DIV2K --scales 2 4

Input, as distributed: ``<input>/DIV2K_train_HR/0001.png ...`` and optionally
``<input>/DIV2K_train_LR_bicubic/X4/0001x4.png ...``. Outputs in ``--output``:

- ``DIV2K_train_HR_sub.lmdb``: HR sub-images (BasicSR's ``extract_subimages.py`` scheme:
  crop 480, step 240, a last crop at the border when more than 48 pixels remain), keys
  ``0001_s001 ...``, ``meta_info.txt`` inside, written with BasicSR's ``LmdbMaker``.
- ``DIV2K_train_LR_bicubic_X{s}_sub.lmdb``: the aligned LR sub-images, cut from the official
  LR image when ``X{s}`` is present, else MATLAB-bicubic downsampled from each HR sub-image.
- ``hes_stats_X{s}.npz``: the gradient vector of every candidate LR patch (side
  ``gt_size / s``) on a grid over every LR sub-image, the Eq. 7 class thresholds, the class
  counts (see :func:`write_stats`).
- ``routing_stats_X{s}.npz``: the same for the patches dynamic inference routes
  (``--routing-patch`` 32, ``--routing-stride`` 28): the thresholds WBSRModel routes with.
- ``bdloss_prior.json``: Gaussian mixtures of HR values in the ``detail`` and ``intensity``
  spaces (BDLoss, Eq. 12).

HR images are first cropped to multiples of 12, so that every scale in 2, 3, 4 aligns and the
HR LMDB does not depend on ``--scales``. Each output is built under a hidden partial name
(``.<name>.wbsr-partial-<pid>``) and renamed when complete; a re-run skips complete outputs and
rebuilds the rest.
"""
import argparse
import json
import math
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import lmdb
import numpy as np
import torch
from tqdm import tqdm

from wbsr_basicsr.data.hes_statistics import HESStatistics
from wbsr_basicsr.prepare.common import (BadInput, LmdbWriter, bicubic_downsample, folder_bytes,
                                           inputs_fingerprint, list_images, manifest_settings, mod_crop, read_bgr,
                                           settings_mismatch)
from wbsr_basicsr.losses.bdloss_prior import SPACES, fit_prior, save_priors, to_space
from wbsr_basicsr.utils.atomic import remove_partial, write_atomically
from wbsr_basicsr.utils.gradient_stats import grid_gradient_vectors, grid_positions

SUPPORTED_SCALES = (2, 3, 4)
HR_MODULUS = 12  # lcm of the supported scales
PRIOR_SUBS_PER_IMAGE = 4
MADE_BY = 'datasets_prep/prepare_div2k.py'
STATS_KINDS = ('hes', 'routing')  # gradient statistics for HES sampling and for routing at inference


@dataclass(frozen=True)
class Settings:
    """Everything that determines the outputs; stored with them and compared on re-runs."""
    scales: Tuple[int, ...]
    crop_size: int = 480
    step: int = 240
    thresh_size: int = 48
    compress_level: int = 1
    gt_size: int = 128
    hes_stride: Optional[int] = None
    routing_patch: int = 32
    routing_stride: int = 28
    num_classes: int = 10
    gmm_components: int = 8
    gmm_samples: int = 200_000
    seed: int = 0

    def patch_size(self, scale: int) -> int:
        return self.gt_size // scale

    def stride(self, scale: int) -> int:
        return self.hes_stride or max(1, self.patch_size(scale) // 2)

    def grid(self, kind: str, scale: int) -> Tuple[int, int]:
        """LR patch size and stride of the ``hes`` or ``routing`` statistics of one scale."""
        if kind == 'hes':
            return self.patch_size(scale), self.stride(scale)
        return self.routing_patch, self.routing_stride


@dataclass
class Outputs:
    """Final paths of every output and which of them this run builds."""
    folder: str
    scales: Tuple[int, ...]
    todo: Dict[str, bool] = field(default_factory=dict)

    @property
    def hr_lmdb(self) -> str:
        return os.path.join(self.folder, 'DIV2K_train_HR_sub.lmdb')

    def lr_lmdb(self, scale: int) -> str:
        return os.path.join(self.folder, f'DIV2K_train_LR_bicubic_X{scale}_sub.lmdb')

    def stats(self, kind: str, scale: int) -> str:
        """``hes_stats_X{s}.npz`` or ``routing_stats_X{s}.npz``."""
        return os.path.join(self.folder, f'{kind}_stats_X{scale}.npz')

    @property
    def prior(self) -> str:
        return os.path.join(self.folder, 'bdloss_prior.json')

    def by_label(self) -> Dict[str, str]:
        """Every output path under its label: ``hr``, ``lr<s>``, ``hes<s>``, ``routing<s>``, ``prior``."""
        labels = {'hr': self.hr_lmdb}
        for scale in self.scales:
            labels[f'lr{scale}'] = self.lr_lmdb(scale)
            for kind in STATS_KINDS:
                labels[f'{kind}{scale}'] = self.stats(kind, scale)
        labels['prior'] = self.prior
        return labels


@dataclass
class ImageTask:
    index: int
    hr_path: str
    lr_paths: Dict[int, Optional[str]]  # scale -> official LR image, or None to generate


@dataclass
class ImageResult:
    index: int
    hr_path: str
    keys: List[str] = field(default_factory=list)
    hr_png: List[Tuple[bytes, Tuple[int, int, int]]] = field(default_factory=list)
    lr_png: Dict[int, List[Tuple[bytes, Tuple[int, int, int]]]] = field(default_factory=dict)
    vectors: Dict[str, np.ndarray] = field(default_factory=dict)  # 'hes4', 'routing4' -> (subs, rows, cols, 4)
    samples: Dict[str, np.ndarray] = field(default_factory=dict)  # space -> values
    notes: List[str] = field(default_factory=list)
    error: Optional[str] = None


# ----------------------------------------------------------------------------- per image (workers)

def crop_positions(length: int, crop: int, step: int, thresh: int) -> List[int]:
    """BasicSR's sub-image offsets: every ``step``, plus one at the border if > ``thresh`` remains."""
    positions = list(range(0, length - crop + 1, step))
    if length - (positions[-1] + crop) > thresh:
        positions.append(length - crop)
    return positions


def read_lr_partner(path: str, hr_shape: Tuple[int, int], scale: int) -> np.ndarray:
    """The official LR image; its size must be HR / scale, rounded down or (as MATLAB's imresize) up."""
    lr = read_bgr(path)
    floor = (hr_shape[0] // scale, hr_shape[1] // scale)
    ceil = (-(-hr_shape[0] // scale), -(-hr_shape[1] // scale))
    if lr.shape[:2] not in (floor, ceil):
        raise BadInput(f'{path}: LR size {lr.shape[1]}x{lr.shape[0]} is not HR size / {scale} = '
                       f'{floor[1]}x{floor[0]}' + (f' or {ceil[1]}x{ceil[0]}.' if ceil != floor else '.'))
    return lr


def encode_png(image: np.ndarray, level: int) -> Tuple[bytes, Tuple[int, int, int]]:
    ok, buffer = cv2.imencode('.png', image, [cv2.IMWRITE_PNG_COMPRESSION, level])
    if not ok:
        raise RuntimeError('PNG encoding failed')
    return buffer.tobytes(), image.shape


def to_rgb_tensor(images: Sequence[np.ndarray]) -> torch.Tensor:
    """BGR uint8 images of one size -> ``(N, 3, H, W)`` RGB float in [0, 1]."""
    stacked = np.stack(images)[..., ::-1].astype(np.float32) / 255.
    return torch.from_numpy(stacked.copy()).permute(0, 3, 1, 2)


def process_image(task: ImageTask, settings: Settings, todo: Dict[str, bool], samples_per_image: int
                  ) -> ImageResult:
    """Cut one HR image (and its LR partners) into sub-images and compute its statistics."""
    result = ImageResult(task.index, task.hr_path)
    try:
        original = read_bgr(task.hr_path, result.notes)
        hr = mod_crop(original, HR_MODULUS)
        height, width = hr.shape[:2]
        if min(height, width) < settings.crop_size:
            raise BadInput(f'{task.hr_path}: {original.shape[1]}x{original.shape[0]} is smaller than the crop '
                           f'size {settings.crop_size} (after cropping to multiples of {HR_MODULUS}).')
        tops = crop_positions(height, settings.crop_size, settings.step, settings.thresh_size)
        lefts = crop_positions(width, settings.crop_size, settings.step, settings.thresh_size)
        corners = [(top, left) for top in tops for left in lefts]
        stem = os.path.splitext(os.path.basename(task.hr_path))[0]
        result.keys = [f'{stem}_s{i:03d}' for i in range(1, len(corners) + 1)]
        crop = settings.crop_size
        hr_subs = [hr[top:top + crop, left:left + crop] for top, left in corners]
        if todo['hr']:
            result.hr_png = [encode_png(sub, settings.compress_level) for sub in hr_subs]
        for scale in settings.scales:
            stats_todo = [kind for kind in STATS_KINDS if todo[f'{kind}{scale}']]
            if todo[f'lr{scale}'] or stats_todo:
                lr_subs = lr_sub_images(task.lr_paths[scale], original.shape[:2], hr_subs, corners, crop, scale)
            if todo[f'lr{scale}']:
                result.lr_png[scale] = [encode_png(sub, settings.compress_level) for sub in lr_subs]
            for kind in stats_todo:
                result.vectors[f'{kind}{scale}'] = grid_gradient_vectors(to_rgb_tensor(lr_subs),
                                                                         *settings.grid(kind, scale)).numpy()
        if todo['prior']:
            result.samples = sample_prior_values(hr_subs, samples_per_image, settings.seed + task.index)
    except BadInput as error:
        result.error = str(error)
    return result


def lr_sub_images(lr_path: Optional[str], hr_shape, hr_subs, corners, crop: int, scale: int) -> List[np.ndarray]:
    """LR sub-images aligned with the HR ones: cut from the official LR image, or bicubic of each."""
    if lr_path is None:
        return [bicubic_downsample(sub, scale) for sub in hr_subs]
    lr = read_lr_partner(lr_path, hr_shape, scale)
    size = crop // scale
    return [lr[top // scale:top // scale + size, left // scale:left // scale + size] for top, left in corners]


def sample_prior_values(hr_subs: List[np.ndarray], count: int, seed: int) -> Dict[str, np.ndarray]:
    """``count`` random HR element values (RGB in [0, 1]) in each prior space, drawn from
    ``PRIOR_SUBS_PER_IMAGE`` random sub-images (mapping every sub-image would cost ~10% more time)."""
    generator = np.random.default_rng(seed)
    chosen = generator.choice(len(hr_subs), size=min(PRIOR_SUBS_PER_IMAGE, len(hr_subs)), replace=False)
    images = to_rgb_tensor([hr_subs[i] for i in chosen])
    picks = generator.integers(0, images.numel(), size=count)
    return {space: to_space(images, space).flatten()[picks].numpy() for space in SPACES}


# ----------------------------------------------------------------------------- outputs

def check_outputs(outputs: Outputs, wanted: Dict[str, dict]) -> None:
    """Mark each output to build or skip; refuse outputs that are not ours or differ from the ``wanted``
    settings, the inputs they were made from among them (:func:`inputs_fingerprint`): never mix old
    and new ones."""
    for label, path in outputs.by_label().items():
        if not os.path.lexists(path):
            outputs.todo[label] = True
            continue
        recorded = read_recorded_settings(path)
        if recorded is None:
            raise BadInput(f'{path}: exists but was not made by prepare_div2k.py; move it away or choose '
                           'another --output.')
        if recorded != wanted[label]:
            raise BadInput(settings_mismatch(path, recorded, wanted[label]))
        outputs.todo[label] = False


def settings_by_output(settings: Settings, inputs: str) -> Dict[str, dict]:
    """The settings each output depends on (what its manifest or metadata records), the ``inputs``
    fingerprint among them."""
    hr = dict(crop_size=settings.crop_size, step=settings.step, thresh_size=settings.thresh_size,
              compress_level=settings.compress_level, hr_modulus=HR_MODULUS, inputs=inputs)
    wanted = {'hr': hr, 'prior': dict(hr, gmm_components=settings.gmm_components,
                                      gmm_samples=settings.gmm_samples, seed=settings.seed)}
    for scale in settings.scales:
        wanted[f'lr{scale}'] = dict(hr, scale=scale)
        for kind in STATS_KINDS:
            patch, stride = settings.grid(kind, scale)
            wanted[f'{kind}{scale}'] = dict(hr, scale=scale, patch_size=patch, stride=stride,
                                            num_classes=settings.num_classes)
    return wanted


def read_recorded_settings(path: str) -> Optional[dict]:
    """The settings recorded in one of our outputs, or ``None`` if it is not ours."""
    if os.path.isdir(path):
        return manifest_settings(path)
    try:
        if path.endswith('.npz'):
            return HESStatistics.load(path).meta['settings']
        with open(path, encoding='utf-8') as handle:
            return json.load(handle)['settings']
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_stats(path: str, kind: str, keys: List[str], vectors: List[np.ndarray], settings: Settings, scale: int,
                recorded: dict, lr_source: str) -> None:
    """Write the ``hes`` or ``routing`` statistics of one scale (:mod:`wbsr_basicsr.data.hes_statistics`)."""
    patch, stride = settings.grid(kind, scale)
    rows = grid_positions(settings.crop_size // scale, patch, stride)
    grid = np.array([(top, left) for top in rows for left in rows], dtype=np.int32)
    sub_index = np.repeat(np.arange(len(keys), dtype=np.int32), len(grid))
    positions = np.column_stack([sub_index, np.tile(grid, (len(keys), 1))])
    all_vectors = np.concatenate([v.reshape(-1, 4) for v in vectors]).astype(np.float32)
    statistics = HESStatistics(keys, positions, all_vectors, scale, patch, stride,
                               dict(settings=recorded, gt_size=settings.gt_size, lr_source=lr_source))
    write_atomically(path, lambda tmp_path: statistics.save(tmp_path, settings.num_classes))


def write_prior(path: str, samples: Dict[str, List[np.ndarray]], settings: Settings, recorded: dict) -> None:
    priors = []
    for space in SPACES:
        values = np.concatenate(samples[space])
        print(f'[prior] fitting a {settings.gmm_components}-component mixture to {values.size} {space} values',
              flush=True)
        priors.append(fit_prior(values, space, settings.gmm_components, settings.seed))
    save_priors(priors, path, settings=recorded, samples=int(values.size), made_by=MADE_BY)


# ----------------------------------------------------------------------------- driver

def build_tasks(input_root: str, hr_folder: str, lr_folder: str, scales: Sequence[int]) -> List[ImageTask]:
    hr_paths = list_images(os.path.join(input_root, hr_folder))
    lr_dirs = {s: os.path.join(input_root, lr_folder, f'X{s}') for s in scales}
    tasks = []
    for index, hr_path in enumerate(hr_paths):
        stem = os.path.splitext(os.path.basename(hr_path))[0]
        lr_paths: Dict[int, Optional[str]] = {}
        for scale, lr_dir in lr_dirs.items():
            lr_paths[scale] = os.path.join(lr_dir, f'{stem}x{scale}.png') if os.path.isdir(lr_dir) else None
        tasks.append(ImageTask(index, hr_path, lr_paths))
    return tasks


def missing_partner(task: ImageTask) -> Optional[str]:
    for scale, path in task.lr_paths.items():
        if path is not None and not os.path.isfile(path):
            return f'{task.hr_path}: no LR partner {path} for scale {scale}.'
    return None


class _Worker:
    """Picklable callable for the process pool."""

    def __init__(self, settings: Settings, todo: Dict[str, bool], samples_per_image: int) -> None:
        self.args = (settings, todo, samples_per_image)

    def __call__(self, task: ImageTask) -> ImageResult:
        return process_image(task, *self.args)


def _init_worker() -> None:
    torch.set_num_threads(1)


def run(args: argparse.Namespace) -> int:
    start = time.time()
    settings = Settings(scales=tuple(sorted(set(args.scales))), crop_size=args.crop_size, step=args.step,
                        thresh_size=args.thresh_size, compress_level=args.compress_level, gt_size=args.gt_size,
                        hes_stride=args.hes_stride, routing_patch=args.routing_patch,
                        routing_stride=args.routing_stride, num_classes=args.num_classes,
                        gmm_components=args.gmm_components, gmm_samples=args.gmm_samples, seed=args.seed)
    validate_settings(settings)
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise BadInput(f'{args.output}: output path exists and is not a folder.')
    tasks = build_tasks(args.input, args.hr_folder, args.lr_folder, settings.scales)
    inputs = inputs_fingerprint([task.hr_path for task in tasks] + [path for task in tasks
                                                                    for path in task.lr_paths.values() if path])
    outputs = Outputs(args.output, settings.scales)
    recorded = settings_by_output(settings, inputs)
    check_outputs(outputs, recorded)
    os.makedirs(args.output, exist_ok=True)
    for name in remove_partial(args.output):
        print(f'[prep] removed {name}, left by an interrupted run')
    if not any(outputs.todo.values()):
        print(f'[prep] every output in {args.output} is complete; nothing to do.')
        return 0
    for label, path in outputs.by_label().items():
        if not outputs.todo[label]:
            print(f'[prep] complete, skipped: {path}')

    bad: List[str] = []
    usable = []
    for task in tasks:
        problem = missing_partner(task)
        if problem is None:
            usable.append(task)
        elif args.skip_bad:
            bad.append(problem)
        else:
            raise BadInput(problem)
    stage_seconds: Dict[str, float] = {}
    results = process_all(usable, settings, recorded, outputs, args, bad, stage_seconds)
    print_summary(results, bad, outputs, time.time() - start, stage_seconds, settings.crop_size)
    return 0


def validate_settings(settings: Settings) -> None:
    unsupported = [s for s in settings.scales if s not in SUPPORTED_SCALES]
    if unsupported:
        raise BadInput(f'--scales {unsupported} not supported; choose from {SUPPORTED_SCALES}.')
    for name in ('crop_size', 'step'):
        value = getattr(settings, name)
        if value <= 0 or value % HR_MODULUS:
            raise BadInput(f'--{name.replace("_", "-")} {value} must be a positive multiple of {HR_MODULUS}, so '
                           'that every scale aligns.')
    misfit = [s for s in settings.scales if settings.gt_size % s or settings.gt_size // s < 3]
    if misfit:
        raise BadInput(f'--gt-size {settings.gt_size} must be divisible by every scale (not by {misfit}), '
                       'giving LR patches of at least 3 pixels.')
    if settings.gt_size > settings.crop_size:
        raise BadInput(f'--gt-size {settings.gt_size} is larger than --crop-size {settings.crop_size}.')
    too_big = [s for s in settings.scales if not 3 <= settings.routing_patch <= settings.crop_size // s]
    if too_big or not 0 < settings.routing_stride <= settings.routing_patch:
        raise BadInput(f'--routing-patch {settings.routing_patch} must lie in [3, crop-size / scale] for every scale '
                       f'and --routing-stride {settings.routing_stride} in (0, routing-patch].')
    if settings.num_classes < 2:
        raise BadInput(f'--num-classes must be at least 2, got {settings.num_classes}.')


def process_all(tasks: List[ImageTask], settings: Settings, recorded: Dict[str, dict], outputs: Outputs, args,
                bad: List[str], stage_seconds: Dict[str, float]) -> List[Tuple[str, int]]:
    """Run every image through the workers, streaming into the outputs (each recording its settings
    from ``recorded``); all-or-nothing per output."""
    started = time.time()
    if not tasks:
        raise BadInput(f'{args.input}: no usable images.')
    writers: Dict[str, LmdbWriter] = {}
    if outputs.todo['hr']:
        writers['hr'] = LmdbWriter(outputs.hr_lmdb, recorded['hr'], settings.compress_level, MADE_BY)
    for scale in settings.scales:
        if outputs.todo[f'lr{scale}']:
            writers[f'lr{scale}'] = LmdbWriter(outputs.lr_lmdb(scale), recorded[f'lr{scale}'],
                                               settings.compress_level, MADE_BY)
    keys: List[str] = []
    vectors: Dict[str, List[np.ndarray]] = {f'{k}{s}': [] for k in STATS_KINDS for s in settings.scales}
    samples: Dict[str, List[np.ndarray]] = {space: [] for space in SPACES}
    done: List[Tuple[str, int]] = []
    worker = _Worker(settings, outputs.todo, math.ceil(settings.gmm_samples / len(tasks)))
    try:
        with multiprocessing.get_context('fork').Pool(args.workers, initializer=_init_worker) as pool:
            for result in tqdm(pool.imap(worker, tasks), total=len(tasks), desc='images', unit='img'):
                for note in result.notes:
                    print(f'[prep] note: {note}')
                if result.error is not None:
                    if not args.skip_bad:
                        raise BadInput(result.error)
                    bad.append(result.error)
                    continue
                store(result, writers, keys, vectors, samples)
                done.append((result.hr_path, len(result.keys)))
        if not done:
            raise BadInput(f'{args.input}: every image was skipped; nothing to write.')
        for writer in writers.values():
            writer.finish()
    except BaseException:
        for writer in writers.values():
            if os.path.exists(writer.tmp_path):
                writer.abandon()
        raise
    stage_seconds['images'] = time.time() - started
    lr_sources = {s: 'official' if tasks[0].lr_paths[s] else 'bicubic' for s in settings.scales}
    started = time.time()
    for scale in settings.scales:
        for kind in STATS_KINDS:
            label = f'{kind}{scale}'
            if outputs.todo[label]:
                write_stats(outputs.stats(kind, scale), kind, keys, vectors[label], settings, scale, recorded[label],
                            lr_sources[scale])
    stage_seconds['gradient statistics'] = time.time() - started
    started = time.time()
    if outputs.todo['prior']:
        top_up_prior_samples(samples, settings, outputs.hr_lmdb, keys)
        write_prior(outputs.prior, samples, settings, recorded['prior'])
    stage_seconds['prior fit'] = time.time() - started
    return done


def top_up_prior_samples(samples: Dict[str, List[np.ndarray]], settings: Settings, hr_lmdb: str,
                         keys: List[str]) -> None:
    """Images skipped with ``--skip-bad`` took their share of ``--gmm-samples`` with them: draw the
    shortfall from random kept HR sub-images, read back from the finished HR LMDB."""
    missing = settings.gmm_samples - sum(len(values) for values in samples[SPACES[0]])
    if missing <= 0:
        return
    generator = np.random.default_rng(settings.seed)
    chosen = generator.choice(len(keys), size=min(4 * PRIOR_SUBS_PER_IMAGE, len(keys)), replace=False)
    environment = lmdb.open(hr_lmdb, readonly=True, lock=False, readahead=False)
    try:
        with environment.begin() as transaction:
            subs = [cv2.imdecode(np.frombuffer(transaction.get(keys[i].encode()), np.uint8), cv2.IMREAD_COLOR)
                    for i in chosen]
    finally:
        environment.close()
    for space, values in sample_prior_values(subs, missing, settings.seed + len(keys)).items():
        samples[space].append(values)


def store(result: ImageResult, writers: Dict[str, LmdbWriter], keys: List[str],
          vectors: Dict[str, List[np.ndarray]], samples: Dict[str, List[np.ndarray]]) -> None:
    keys.extend(result.keys)
    for label, writer in writers.items():
        pngs = result.hr_png if label == 'hr' else result.lr_png[int(label[2:])]
        for key, png in zip(result.keys, pngs):
            writer.put(key, png)
    for label, value in result.vectors.items():
        vectors[label].append(value)
    for space, value in result.samples.items():
        samples[space].append(value)


def print_summary(done: List[Tuple[str, int]], bad: List[str], outputs: Outputs, seconds: float,
                  stage_seconds: Dict[str, float], crop_size: int) -> None:
    built = [path for label, path in outputs.by_label().items() if outputs.todo[label]]
    total_bytes = sum(folder_bytes(p) for p in built)
    sub_images = sum(n for _, n in done)
    print(f'[prep] done in {seconds:.1f} s: {len(done)} images, {sub_images} sub-images '
          f'({sub_images * crop_size**2 / 1e6:.1f} MP), {total_bytes / 2**20:.1f} MiB written')
    print('[prep] stages: ' + ', '.join(f'{name} {value:.1f} s' for name, value in stage_seconds.items()))
    for path in built:
        print(f'[prep]   {path}  {folder_bytes(path) / 2**20:.1f} MiB')
    if bad:
        print(f'[prep] skipped {len(bad)} bad input(s):')
        for problem in bad:
            print(f'[prep]   {problem}')
