"""Images as users have them, in and out of a 3-channel SR network: 8- or 16-bit, grey, RGB or
RGBA. A grey image runs as 3 equal channels and comes out grey; an alpha channel is upscaled
bicubically and reattached; 16-bit images are processed in float and written as 16-bit.
Outputs are written whole or not at all (:mod:`.atomic`)."""
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
import torch
from torch import Tensor

from .atomic import write_atomically

PEAKS = {np.dtype(np.uint8): 255., np.dtype(np.uint16): 65535.}


@dataclass
class UserImage:
    """An image split into what the network sees (``rgb``, ``(1, 3, H, W)`` in [0, 1]) and what it
    does not (``alpha``, ``(H, W)`` in [0, 1]), with how to write it back."""

    rgb: Tensor
    alpha: Optional[np.ndarray]
    grey: bool
    dtype: np.dtype

    @property
    def size(self) -> str:
        return f'{self.rgb.shape[-1]}x{self.rgb.shape[-2]}'


def read_image(path: str) -> UserImage:
    """``ValueError`` naming ``path`` if it is not an 8- or 16-bit grey, RGB or RGBA image."""
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f'{path}: not a readable image.')
    if image.dtype not in PEAKS:
        raise ValueError(f'{path}: {image.dtype} pixels; only 8- and 16-bit images are supported.')
    peak = PEAKS[image.dtype]
    grey = image.ndim == 2 or image.shape[2] == 1
    if grey:
        bgr = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    elif image.shape[2] in (3, 4):
        bgr = image[..., :3]
    else:
        raise ValueError(f'{path}: {image.shape[2]} channels; expected 1 (grey), 3 (colour) or 4 (with alpha).')
    alpha = image[..., 3].astype(np.float32) / peak if not grey and image.shape[2] == 4 else None
    rgb = np.ascontiguousarray(bgr[..., ::-1]).astype(np.float32) / peak
    return UserImage(torch.from_numpy(rgb).permute(2, 0, 1)[None], alpha, grey, image.dtype)


FORMATS_16BIT = ('png', 'tif', 'tiff')
FORMATS_ALPHA = ('png', 'tif', 'tiff', 'webp')


def check_format(path: str, source: UserImage) -> None:
    """``ValueError`` if the format of ``path``'s extension cannot hold ``source``'s kind."""
    ext = path.rsplit('.', 1)[-1].lower()
    if source.dtype == np.uint16 and ext not in FORMATS_16BIT:
        raise ValueError(f'{path}: a 16-bit image cannot be written as {ext}; use one of {FORMATS_16BIT}.')
    if source.alpha is not None and ext not in FORMATS_ALPHA:
        raise ValueError(f'{path}: an image with alpha cannot be written as {ext}; use one of {FORMATS_ALPHA}.')


def write_image(path: str, sr: Tensor, source: UserImage) -> None:
    """Write the SR output ``sr`` ``(1, 3, H*s, W*s)`` of ``source`` in the source's kind (grey or
    colour, its alpha upscaled bicubically, its bit depth), atomically."""
    check_format(path, source)
    peak = PEAKS[source.dtype]
    levels = sr[0].detach().float().cpu().clamp(0, 1)  # one float copy of the SR image, scaled in place
    if source.grey:
        levels = levels.mean(0, keepdim=True)
    pixels = levels.mul_(peak).round_().permute(1, 2, 0).numpy()
    out = (pixels[..., 0] if source.grey else pixels[..., ::-1]).astype(source.dtype)
    if source.alpha is not None:
        height, width = out.shape[:2]
        alpha = np.clip(cv2.resize(source.alpha, (width, height), interpolation=cv2.INTER_CUBIC), 0, 1)
        out = np.dstack([out, (alpha * peak).round().astype(source.dtype)])

    def save(tmp_path: str) -> None:
        if not cv2.imwrite(tmp_path, out):
            raise ValueError(f'{path}: OpenCV could not write it.')

    write_atomically(path, save)
