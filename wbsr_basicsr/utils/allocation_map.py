"""The subnet chosen for every patch, painted over the SR image (the paper's Fig. 3c)."""
from typing import Sequence

import cv2
import numpy as np


def subnet_palette(num_subnets: int) -> np.ndarray:
    """``(num_subnets, 3)`` BGR colours from dark blue (cheapest subnet) to yellow (the full one)."""
    levels = np.linspace(0, 255, num_subnets).astype(np.uint8).reshape(-1, 1)
    return cv2.applyColorMap(levels, cv2.COLORMAP_VIRIDIS).reshape(-1, 3)


def allocation_map(sr_bgr: np.ndarray, corners: Sequence[Sequence[int]], subnet_ids: np.ndarray, patch_size: int,
                   scale: int, num_subnets: int, opacity: float = 0.55) -> np.ndarray:
    """Blend each patch's subnet colour over the grey SR image (``H x W x 3`` uint8 BGR).

    Patches are painted in raster order, so where they overlap the later patch shows. A legend
    strip at the bottom runs through the subnets from cheapest (left) to the full network.
    """
    palette = subnet_palette(num_subnets)
    height, width = sr_bgr.shape[:2]
    colours = np.zeros_like(sr_bgr)
    size = patch_size * scale
    for (top, left), index in zip(corners, subnet_ids):
        colours[top * scale:top * scale + size, left * scale:left * scale + size] = palette[int(index)]
    grey = cv2.cvtColor(cv2.cvtColor(sr_bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    painted = cv2.addWeighted(colours[:height, :width], opacity, grey, 1 - opacity, 0)
    legend_height = max(4, height // 40)
    legend = palette[np.arange(width) * num_subnets // width][None].repeat(legend_height, axis=0)
    return np.concatenate([painted, legend], axis=0)
