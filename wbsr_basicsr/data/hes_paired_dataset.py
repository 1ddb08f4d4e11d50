"""Hierarchical Equalization Sampling (paper Sec. 4.1.1, Eq. 7-8) in BasicSR's data pipeline.

Training starts with sample-level sampling, the patches BasicSR's ``PairedImageDataset``
draws, and switches to class-level sampling after ``start_iter`` iterations: candidate LR
patches fall in K classes by the quantile thresholds of their difficulty scores (Eq. 7), and
candidate ``i`` of class ``k`` is drawn with probability ``w_i = 1 / (N_k delta^k)``,
normalised (Eq. 8 as docs/paper_reading.md reads it): class ``k`` holds mass proportional to
``delta^-k``, balanced across classes and tilted towards the hard ones. The rule after the
switch is a patch sampler (:mod:`wbsr_basicsr.data.sampling`): Eq. 8 by default, or one of the
methods the paper's Table 3 compares, on the same candidates.

Which phase an item belongs to is decided in the main process by :class:`CandidateSampler`,
which knows the iteration of every batch it hands out (also after ``--auto_resume``, and the
same on every rank). Index ``i < len(dataset)`` asks for the sample-level patch of image ``i``;
index ``len(dataset) + c`` asks for candidate ``c``. Worker processes, either prefetch mode
and distributed ranks therefore see the switch at the same, exact iteration.

Workers return what ``PairedImageDataset`` returns, by one loading path for both phases. The
HES fields of a batch (each patch's gradient vector, class and phase) and the patch sampler's
fields are added in the main process by :class:`SampledBatches`, one batched computation per
batch: carrying three small tensors per batch out of the worker processes cost more than
computing them (docs/results.md, HES loading overhead).
"""
import contextlib
import time
from dataclasses import dataclass, fields
from os import path as osp
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from basicsr.data.data_sampler import EnlargedSampler
from basicsr.data.paired_image_dataset import PairedImageDataset
from basicsr.data.transforms import augment, paired_random_crop
from basicsr.utils import FileClient, bgr2ycbcr, get_root_logger, imfrombytes, img2tensor
from basicsr.utils.registry import DATASET_REGISTRY
from torchvision.transforms.functional import normalize
from tqdm import tqdm

from wbsr_basicsr.utils.gradient_stats import (assign_classes, class_thresholds, difficulty_scores,
                                               patch_gradient_vectors)
from wbsr_basicsr.utils.options import check_keys

from .hes_statistics import HESStatistics
from .sampling import NOT_A_CANDIDATE, Candidates, build_sampler


@dataclass(frozen=True)
class HESOptions:
    """The ``hes:`` block of the dataset options: the candidate grid, its classes, the phases."""

    num_classes: int = 10
    delta: Optional[float] = None  # HES's Eq. 8 parameter (default 0.9); the HES sampler's option
    start_frac: Optional[float] = None  # default: the sampler's (HES 0.7, the others 0)
    start_iter: Optional[int] = None
    stats_file: Optional[str] = None
    stride: Optional[int] = None

    def __post_init__(self) -> None:
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ValueError(f'hes.num_classes (K) must be an integer of at least 2, got {self.num_classes!r}.')
        if self.start_frac is not None and not 0 <= self.start_frac <= 1:
            raise ValueError(f'hes.start_frac must lie in [0, 1], got {self.start_frac!r}.')
        if self.start_iter is not None and self.start_iter < 0:
            raise ValueError(f'hes.start_iter must be non-negative, got {self.start_iter!r}.')

    def switch_iter(self, total_iter: int, default_frac: float) -> int:
        """Iterations of uniform crops; the sampler draws from the next one on."""
        if self.start_iter is not None:
            return self.start_iter
        return round((default_frac if self.start_frac is None else self.start_frac) * total_iter)


def sampler_block(opt: dict, hes: HESOptions) -> dict:
    """The ``sampler:`` block (``{type: HES}`` without one), with ``hes.delta`` moved into HES's."""
    block = dict(opt.get('sampler') or {'type': 'HES'})
    if hes.delta is not None:
        if block.get('type', 'HES') != 'HES':
            raise ValueError(f"hes.delta is HES's Eq. 8 parameter; sampler {block['type']} does not use it.")
        if 'delta' in block:
            raise ValueError('delta is given in both the hes: and the sampler: block; keep one.')
        block['delta'] = hes.delta
    return block


@DATASET_REGISTRY.register()
class HESPairedImageDataset(PairedImageDataset):
    """BasicSR's ``PairedImageDataset`` (every option, LMDB or disk) plus an ``hes:`` block and
    an optional ``sampler:`` block (``type``: ``HES``, the default, or another patch sampler of
    :mod:`wbsr_basicsr.data.sampling`, with its options).

    ``hes``: ``num_classes`` (K, default 10), ``delta`` (HES's, in (0, 1), default 0.9),
    ``start_frac`` (of ``train.total_iter``; default the sampler's, HES 0.7) or ``start_iter`` (absolute),
    ``stats_file`` (``hes_stats_X{s}.npz`` from the preparation step; computed at start when
    absent), ``stride`` (candidate grid stride in LR pixels when computing; default half a
    patch). Batches of the training loader (:meth:`training_batches`) also carry, per patch,
    ``hes_vector`` (the LR patch's gradient vector), ``hes_class`` and ``hes_class_level`` (1
    for a candidate, 0 for a uniform crop), and whatever the patch sampler adds; see :meth:`hes_fields`.
    """

    def __init__(self, opt: dict) -> None:
        super().__init__(opt)
        if opt['phase'] != 'train':
            raise ValueError('HESPairedImageDataset is a training dataset; validate with PairedImageDataset.')
        hes = opt.get('hes') or {}
        check_keys('hes', hes, [field.name for field in fields(HESOptions)])
        self.hes = HESOptions(**hes)
        self.scale = opt['scale']
        if opt.get('gt_size') is None or opt['gt_size'] % self.scale:
            raise ValueError(f"HESPairedImageDataset needs gt_size divisible by scale {self.scale}, "
                             f"got {opt.get('gt_size')}.")
        self.patch_size = opt['gt_size'] // self.scale
        statistics = self._statistics()
        self._index_candidates(statistics)
        self.patch_sampler = build_sampler(sampler_block(opt, self.hes), self.candidates, self._image_pairs)
        get_root_logger().info(f'Training patches: {self.patch_sampler.describe()}.')

    # ------------------------------------------------------------------ statistics and classes

    def _statistics(self) -> HESStatistics:
        if self.hes.stats_file is None:
            return self._compute_statistics()
        statistics = HESStatistics.load(self.hes.stats_file)
        if (statistics.scale, statistics.patch_size) != (self.scale, self.patch_size):
            raise ValueError(f'HES statistics file {self.hes.stats_file} is for scale {statistics.scale} and LR patch '
                             f'{statistics.patch_size}; this dataset uses scale {self.scale} and LR patch '
                             f"{self.patch_size} (gt_size {self.opt['gt_size']}).")
        return statistics

    def _compute_statistics(self) -> HESStatistics:
        logger = get_root_logger()
        logger.info(f"HES: no stats_file; scoring the candidate patches of {len(self.paths)} LR images.")
        started = time.time()
        stride = self.hes.stride or max(1, self.patch_size // 2)
        with self._own_client() as client:
            images = ((self._key(i), self._read_rgb(i, 'lq', client))
                      for i in tqdm(range(len(self.paths)), desc='HES statistics'))
            statistics = HESStatistics.from_lr_images(images, self.scale, self.patch_size, stride)
        logger.info(f'HES: scored {len(statistics.vectors)} candidates in {time.time() - started:.1f} s '
                    '(make hes_stats_X{s}.npz with datasets_prep/prepare_div2k.py to skip this).')
        return statistics

    def _index_candidates(self, statistics: HESStatistics) -> None:
        """Map candidates onto this dataset's images and precompute the Eq. 7-8 distribution."""
        position_of = {self._key(i): i for i in range(len(self.paths))}
        unknown = [k for k in statistics.keys if k not in position_of]
        if unknown:
            raise ValueError(f'HES statistics {self.hes.stats_file} name images this dataset does not have, '
                             f'e.g. {unknown[:3]}.')
        image_of_key = np.array([position_of[k] for k in statistics.keys], dtype=np.int64)
        scores = statistics.scores
        self.thresholds = class_thresholds(scores, self.hes.num_classes)
        self.candidate_image = image_of_key[statistics.positions[:, 0]]
        self.candidate_corner = statistics.positions[:, 1:].astype(np.int64)
        self.candidate_class = assign_classes(scores, self.thresholds)
        self.candidates = Candidates(self.candidate_image, self.candidate_corner, self.candidate_class,
                                     self.hes.num_classes, self.patch_size, self.scale)

    def classify(self, vectors: np.ndarray) -> np.ndarray:
        """Eq. 7 classes of gradient vectors ``(..., 4)`` under this dataset's thresholds."""
        return assign_classes(difficulty_scores(vectors), self.thresholds)

    def training_sampler(self, num_replicas: int, rank: int, total_iter: int, first_iter: int, seed: int,
                         batch_size: Optional[int] = None) -> 'CandidateSampler':
        """The sampler that replaces BasicSR's ``EnlargedSampler`` here (see ``wbsr_basicsr.compat``).

        ``batch_size``: patches per iteration of this process's loader; default
        ``batch_size_per_gpu`` (BasicSR multiplies it by ``num_gpu`` for non-distributed multi-GPU).
        """
        switch_iter = self.hes.switch_iter(total_iter, self.patch_sampler.default_start_frac)
        return CandidateSampler(self, num_replicas, rank, self.opt.get('dataset_enlarge_ratio', 1),
                                batch_size or self.opt['batch_size_per_gpu'], switch_iter, first_iter, seed)

    def training_batches(self, loader: Iterable[Dict], sampler: 'CandidateSampler') -> 'SampledBatches':
        """``loader`` (built on ``sampler``) with the HES fields and the sampler's added to every batch."""
        return SampledBatches(loader, sampler)

    def hes_fields(self, lq: Tensor, indices: np.ndarray) -> Dict[str, Tensor]:
        """The HES fields of a batch of LR patches ``lq`` ``(B, C, P, P)`` drawn as dataset ``indices``.

        ``hes_vector`` ``(B, 4)``: the gradient vector of each patch as it is (after flips and
        rotations); ``hes_class`` ``(B,)``: its Eq. 7 class, for a candidate the candidate's class
        (whichever sampler drew it); ``hes_class_level`` ``(B,)``: 1 for a candidate, 0 for a uniform crop.
        """
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) != len(lq):
            raise ValueError(f'{len(indices)} dataset indices for a batch of {len(lq)} patches.')
        # In numpy: this runs in the training process, where torch's CPU thread pool would wake
        # and spin on cores the loader's workers need.
        vectors = patch_gradient_vectors(self._unnormalized(lq.detach().cpu().numpy()))
        class_level = indices >= len(self.paths)
        classes = self.classify(vectors)
        classes[class_level] = self.candidate_class[indices[class_level] - len(self.paths)]
        return {'hes_vector': torch.from_numpy(vectors), 'hes_class': torch.from_numpy(classes),
                'hes_class_level': torch.from_numpy(class_level.astype(np.int64))}

    # ------------------------------------------------------------------ items

    def __getitem__(self, index: int) -> Dict:
        """Image ``index``'s random crop, as ``PairedImageDataset`` draws it, or candidate
        ``index - len(self)``'s patch: one loading path, only the crop differs."""
        index = int(index)
        candidate = index - len(self.paths) if index >= len(self.paths) else None
        image = index if candidate is None else int(self.candidate_image[candidate])
        gt_path, lq_path = self.paths[image]['gt_path'], self.paths[image]['lq_path']
        img_gt = imfrombytes(self._client().get(gt_path, 'gt'), float32=True)
        img_lq = imfrombytes(self._client().get(lq_path, 'lq'), float32=True)
        if candidate is None:
            img_gt, img_lq = paired_random_crop(img_gt, img_lq, self.opt['gt_size'], self.scale, gt_path)
        else:
            img_gt, img_lq = self._candidate_crop(img_gt, img_lq, candidate)
        img_gt, img_lq = augment([img_gt, img_lq], self.opt['use_hflip'], self.opt['use_rot'])
        if self.opt.get('color') == 'y':
            img_gt, img_lq = (bgr2ycbcr(img, y_only=True)[..., None] for img in (img_gt, img_lq))
        img_gt, img_lq = img2tensor([img_gt, img_lq], bgr2rgb=True, float32=True)
        if self.mean is not None or self.std is not None:
            normalize(img_lq, self.mean, self.std, inplace=True)
            normalize(img_gt, self.mean, self.std, inplace=True)
        return {'lq': img_lq, 'gt': img_gt, 'lq_path': lq_path, 'gt_path': gt_path}

    def _candidate_crop(self, img_gt: np.ndarray, img_lq: np.ndarray, candidate: int):
        """The candidate's LR patch and the GT patch above it."""
        top, left = (int(v) for v in self.candidate_corner[candidate])
        size, scale = self.patch_size, self.scale
        return (img_gt[top * scale:(top + size) * scale, left * scale:(left + size) * scale],
                img_lq[top:top + size, left:left + size])

    def _unnormalized(self, lq: np.ndarray) -> np.ndarray:
        """LR patches ``(..., C, H, W)`` in [0, 1], undoing the optional mean/std normalisation."""
        if self.mean is None and self.std is None:
            return lq
        std = np.asarray(self.std if self.std is not None else 1., dtype=np.float32).reshape(-1, 1, 1)
        return lq * std + np.asarray(self.mean if self.mean is not None else 0., dtype=np.float32).reshape(-1, 1, 1)

    def _client(self) -> FileClient:
        if self.file_client is None:
            self.file_client = FileClient(self.io_backend_opt.pop('type'), **self.io_backend_opt)
        return self.file_client

    @contextlib.contextmanager
    def _own_client(self) -> Iterator[FileClient]:
        """A file client of our own, closed afterwards: BasicSR's workers open theirs after the fork."""
        backend = dict(self.io_backend_opt)
        client = FileClient(backend.pop('type'), **backend)
        try:
            yield client
        finally:
            for env in getattr(client.client, '_client', {}).values():  # LMDB environments
                env.close()

    def _read_rgb(self, index: int, role: str, client: FileClient) -> Tensor:
        """Image ``index``'s ``role`` (``lq`` or ``gt``) side, ``(3, H, W)`` RGB in [0, 1]."""
        image = imfrombytes(client.get(self.paths[index][f'{role}_path'], role), float32=True)
        return img2tensor(image, bgr2rgb=True, float32=True)

    def _image_pairs(self) -> Iterator[Tuple[int, Tensor, Tensor]]:
        """Every image once as ``(index, LR, GT)``, for the samplers that measure candidates."""
        with self._own_client() as client:
            for index in range(len(self.paths)):
                yield index, self._read_rgb(index, 'lq', client), self._read_rgb(index, 'gt', client)

    def _key(self, index: int) -> str:
        """The image's key: its LMDB key, or its file name without extension."""
        return osp.splitext(osp.basename(self.paths[index]['lq_path']))[0]


class CandidateSampler(EnlargedSampler):
    """BasicSR's ``EnlargedSampler`` stream, with the patch sampler's draws after ``switch_iter``.

    BasicSR's loop consumes ``len(self) // batch_size`` batches per epoch (``drop_last``), starting
    at iteration ``first_iter + 1`` (the resume iteration, or 0), so the iteration of every batch is
    known here, in the main process. Each batch is drawn when the loader asks for its indices (a
    few batches ahead of training), so that a sampler that learns from the training losses (DDA)
    draws with what it knows by then. A position yields BasicSR's image index (a uniform crop) up
    to ``switch_iter`` and wherever the patch sampler says so, ``len(dataset) + candidate`` else.
    """

    def __init__(self, dataset: HESPairedImageDataset, num_replicas: int, rank: int, ratio: int, batch_size: int,
                 switch_iter: int, first_iter: int, seed: int) -> None:
        super().__init__(dataset, num_replicas, rank, ratio)
        self.batch_size = batch_size
        self.switch_iter = switch_iter
        self.iters_per_epoch = self.num_samples // batch_size
        self.epoch_start_iter = first_iter
        self.seed = seed
        self.epoch_batches: List[np.ndarray] = []  # dataset indices of the batches drawn so far this epoch
        self._last_epoch: Optional[int] = None

    def set_epoch(self, epoch: int) -> None:
        if self._last_epoch is not None:
            self.epoch_start_iter += (epoch - self._last_epoch) * self.iters_per_epoch
        self._last_epoch = epoch
        super().set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        uniform = np.fromiter(super().__iter__(), dtype=np.int64)
        rng = np.random.default_rng([self.seed, self.epoch, self.rank])
        self.epoch_batches = []
        size, dataset = self.batch_size, self.dataset
        for start in range(0, len(uniform), size):
            batch = uniform[start:start + size].copy()
            iteration = self.epoch_start_iter + 1 + start // size
            if iteration > self.switch_iter and len(batch) == size:
                drawn = dataset.patch_sampler.draw(rng, iteration, size)
                batch = np.where(drawn == NOT_A_CANDIDATE, batch, len(dataset) + drawn)
            self.epoch_batches.append(batch)
            yield from batch.tolist()


class SampledBatches:
    """A training loader whose batches also carry the HES fields and the patch sampler's fields,
    computed in the main process.

    BasicSR's loader (either prefetch mode, any number of workers) hands out the batches of one
    epoch in the order of :class:`CandidateSampler`'s stream, so batch ``j`` holds the dataset
    indices ``sampler.epoch_batches[j]``. Everything else (``len``, ``dataset``, ``sampler``, ...)
    is the wrapped loader's.
    """

    def __init__(self, loader: Iterable[Dict], sampler: CandidateSampler) -> None:
        self.loader = loader
        self.sampler = sampler

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str):
        return getattr(self.loader, name)

    def __iter__(self) -> Iterator[Dict]:
        dataset = self.sampler.dataset
        for position, batch in enumerate(self.loader):
            indices = self.sampler.epoch_batches[position]
            batch.update(dataset.hes_fields(batch['lq'], indices))
            batch.update(dataset.patch_sampler.batch_fields(np.where(indices >= len(dataset), indices - len(dataset),
                                                                     NOT_A_CANDIDATE)))
            yield batch
