"""HES statistics: gradient vectors of candidate LR patches and their Eq. 7 classes.

Made by ``datasets_prep/prepare_div2k.py`` (``hes_stats_X{s}.npz``) or, without that file, by
the HES dataset at start. The file holds ``keys`` (sub-image keys), ``positions`` (candidate:
key index, top, left in LR pixels), ``vectors`` (N x 4 gradient vectors), ``scores``,
``thresholds`` and ``counts`` for the K it was made with, and ``meta`` (JSON: format,
version, scale, patch_size, stride, ...). Thresholds for another K come from the scores.
"""
import json
import os
import zipfile
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Tuple

import numpy as np
import torch

from wbsr_basicsr.utils.gradient_stats import (SCORE_DEFINITION, assign_classes, class_thresholds,
                                               difficulty_scores, grid_gradient_vectors, grid_positions)

HES_FORMAT = 'wbsr-hes-stats'
HES_VERSION = 1


@dataclass
class HESStatistics:
    """Candidate LR patches of one scale and patch size, with their gradient vectors."""

    keys: List[str]
    positions: np.ndarray  # (N, 3) int32: key index, top, left
    vectors: np.ndarray  # (N, 4) float32
    scale: int
    patch_size: int
    stride: int
    meta: Dict = field(default_factory=dict)

    @property
    def scores(self) -> np.ndarray:
        """Difficulty score of each candidate (the shared definition)."""
        return difficulty_scores(self.vectors)

    @classmethod
    def from_lr_images(cls, images: Iterable[Tuple[str, torch.Tensor]], scale: int, patch_size: int,
                       stride: int, **meta) -> 'HESStatistics':
        """Score the :func:`grid_positions` grid of each ``(key, (3, H, W) RGB in [0, 1])`` LR image."""
        keys: List[str] = []
        positions: List[np.ndarray] = []
        vectors: List[np.ndarray] = []
        for key, image in images:
            grid = grid_gradient_vectors(image[None], patch_size, stride)[0]
            tops = grid_positions(image.shape[-2], patch_size, stride)
            lefts = grid_positions(image.shape[-1], patch_size, stride)
            corners = np.array([(len(keys), top, left) for top in tops for left in lefts], dtype=np.int32)
            keys.append(key)
            positions.append(corners.reshape(-1, 3))
            vectors.append(grid.reshape(-1, 4).numpy())
        if not keys:
            raise ValueError('No LR images to compute HES statistics from.')
        return cls(keys, np.concatenate(positions), np.concatenate(vectors).astype(np.float32), scale, patch_size,
                   stride, dict(meta))

    def save(self, path: str, num_classes: int) -> None:
        """Write the statistics file (with thresholds and counts for ``num_classes``) to ``path``."""
        scores = self.scores
        thresholds = class_thresholds(scores, num_classes)
        counts = np.bincount(assign_classes(scores, thresholds), minlength=num_classes)
        meta = dict(self.meta, format=HES_FORMAT, version=HES_VERSION, scale=self.scale, patch_size=self.patch_size,
                    stride=self.stride, num_classes=num_classes, score=SCORE_DEFINITION)
        with open(path, 'wb') as handle:
            np.savez(handle, keys=np.array(self.keys), positions=self.positions, vectors=self.vectors, scores=scores,
                     thresholds=thresholds, counts=counts.astype(np.int64), meta=np.array(json.dumps(meta)))

    @classmethod
    def load(cls, path: str, role: str = 'HES statistics') -> 'HESStatistics':
        """Read a statistics file; a missing or foreign file raises ``ValueError`` naming it and its
        ``role`` (``HES statistics``, or ``Routing statistics`` for ``routing.stats_file``)."""
        if not os.path.isfile(path):
            raise ValueError(f'{role} file {path} does not exist.')
        try:
            with np.load(path, allow_pickle=False) as stats:
                meta = json.loads(str(stats['meta']))
                if meta.get('format') != HES_FORMAT or meta.get('version') != HES_VERSION:
                    raise ValueError('wrong format or version')
                return cls([str(k) for k in stats['keys']], stats['positions'].astype(np.int64),
                           stats['vectors'].astype(np.float32), int(meta['scale']), int(meta['patch_size']),
                           int(meta['stride']), meta)
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
            raise ValueError(f'{role} file {path} is not a {HES_FORMAT!r} version {HES_VERSION} file '
                             f'({error}).') from None
