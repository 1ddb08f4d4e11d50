"""Per-candidate measures the Table 3 samplers rank patches by, one pass over the images."""
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from wbsr_basicsr.utils.gradient_stats import window_sums

from .base import Candidates, ImagePairs


@dataclass(frozen=True)
class CandidateMeasures:
    interpolation_psnr: np.ndarray  # (N,) dB: the GT patch against the bilinearly upscaled LR patch
    lr_std: np.ndarray  # (N,) standard deviation of the LR patch's values (RGB in [0, 1])


def measure_candidates(candidates: Candidates, pairs: ImagePairs) -> CandidateMeasures:
    """Both measures for every candidate. The LR image is upscaled whole (bilinear, half-pixel
    centres, clamped), so that a patch's error has no border effects of its own."""
    psnr = np.full(len(candidates), np.nan)
    lr_std = np.full(len(candidates), np.nan)
    ids_of = dict(candidates.by_image())
    size, scale = candidates.patch_size, candidates.scale
    for image, lq, gt in tqdm(pairs(), desc='Sampler measures'):
        ids = ids_of.get(image)
        if ids is None:
            continue
        top, left = (torch.from_numpy(candidates.corner[ids, axis]) for axis in (0, 1))
        with torch.no_grad():
            upscaled = F.interpolate(lq[None], scale_factor=scale, mode='bilinear', align_corners=False).clamp(0, 1)
            residual = (upscaled - gt[None, :, :upscaled.shape[-2], :upscaled.shape[-1]]).double()
            error = (residual**2).mean(1, keepdim=True)
            mse = window_sums(error, top * scale, left * scale, size * scale)[0, 0] / (size * scale)**2
            values = lq[None].double()
            mean = window_sums(values, top, left, size)[0].sum(0) / (3 * size**2)
            mean_sq = window_sums(values**2, top, left, size)[0].sum(0) / (3 * size**2)
        psnr[ids] = (10 * torch.log10(1 / mse.clamp_min(1e-10))).numpy()
        lr_std[ids] = (mean_sq - mean**2).clamp_min(0).sqrt().numpy()
    if np.isnan(psnr).any():
        raise ValueError(f'{int(np.isnan(psnr).sum())} candidates belong to images that could not be measured.')
    return CandidateMeasures(psnr, lr_std)
