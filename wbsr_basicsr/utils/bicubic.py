"""Bicubic upsampling as the reference row of a results table (MATLAB-compatible, BasicSR's metrics)."""
from pathlib import Path
from typing import Dict, Iterable, Tuple

import cv2
import numpy as np


def bicubic_scores(pairs: Iterable[Tuple[Path, Path]], scale: int, metrics: Dict[str, dict]) -> Dict[str, float]:
    """The mean of each of BasicSR's ``metrics`` (``val.metrics`` entries) over ``(GT, LR)`` image files,
    the LR upsampled ``scale`` x with MATLAB's bicubic."""
    from basicsr.metrics import calculate_metric
    from basicsr.utils.matlab_functions import imresize

    totals, count = {name: 0. for name in metrics}, 0
    for gt_path, lr_path in pairs:
        gt, lr = cv2.imread(str(gt_path)), cv2.imread(str(lr_path))
        up = np.clip(imresize(lr.astype(np.float64) / 255., scale) * 255., 0, 255).round().astype(np.uint8)
        for name, options in metrics.items():
            totals[name] += calculate_metric({'img': up, 'img2': gt}, dict(options))
        count += 1
    return {name: total / count for name, total in totals.items()}
