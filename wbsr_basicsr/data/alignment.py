"""Test pairs whose GT and LR images do not line up are an error, not a wrong PSNR.

BasicSR's ``PairedImageDataset`` crops a test GT image to the LR size x scale, so an LR image
cut on one side silently scores against the wrong pixels. A GT image may exceed LR x scale only
by the mod-crop, fewer than ``scale`` pixels per side.
"""
import io
from typing import Tuple

from PIL import Image


def image_size(data: bytes) -> Tuple[int, int]:
    """``(height, width)`` of an encoded image, from its header."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    return height, width


def check_alignment(gt_size: Tuple[int, int], lq_size: Tuple[int, int], scale: int, gt_path: str,
                    lq_path: str) -> None:
    """``ValueError`` naming both files unless ``0 <= GT - LR x scale < scale`` on both sides."""
    if all(0 <= gt - lq * scale < scale for gt, lq in zip(gt_size, lq_size)):
        return
    raise ValueError(f'{gt_path} ({gt_size[1]}x{gt_size[0]}) and its LR image {lq_path} ({lq_size[1]}x{lq_size[0]}, '
                     f'x{scale} = {lq_size[1] * scale}x{lq_size[0] * scale}) are not aligned: the GT must be LR x '
                     f'scale, plus fewer than {scale} pixels of mod-crop. Recreate the LR image from this GT.')
