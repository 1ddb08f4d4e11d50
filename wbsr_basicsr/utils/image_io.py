"""Images as users have them, in and out of a 3-channel SR network: 8- or 16-bit, grey, grey with
alpha, RGB or RGBA. A grey image runs as 3 equal channels and comes out grey; an alpha channel is
upscaled bicubically and reattached; 16-bit images are processed in float and written as 16-bit;
an EXIF orientation is applied, so outputs are upright. A truncated JPEG, which OpenCV decodes
with a grey bottom and only a warning, is refused (:func:`decoding_problem`). Outputs are written
whole or not at all (:mod:`.atomic`)."""
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .atomic import write_atomically

PEAKS = {np.dtype(np.uint8): 255., np.dtype(np.uint16): 65535.}
EXIF_ORIENTATION = 0x0112
ORIENTATIONS = {  # EXIF orientation -> what makes the stored pixels upright
    2: lambda p: cv2.flip(p, 1), 3: lambda p: cv2.rotate(p, cv2.ROTATE_180), 4: lambda p: cv2.flip(p, 0),
    5: cv2.transpose, 6: lambda p: cv2.rotate(p, cv2.ROTATE_90_CLOCKWISE),
    7: lambda p: cv2.rotate(cv2.transpose(p), cv2.ROTATE_180),  # transverse
    8: lambda p: cv2.rotate(p, cv2.ROTATE_90_COUNTERCLOCKWISE)}


def decoding_problem(path: str) -> Optional[str]:
    """Why the JPEG at ``path`` does not decode completely, or None. OpenCV decodes a truncated JPEG
    with a grey bottom and only a warning on stderr; Pillow's decoder refuses it, so JPEGs are decoded
    once by it first (other formats OpenCV refuses itself when truncated)."""
    try:
        image = Image.open(path)
    except (OSError, SyntaxError, ValueError):  # not an image Pillow identifies: OpenCV decides
        return None
    with image:
        if image.format != 'JPEG':
            return None
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as error:
            return str(error).splitlines()[0] if str(error) else type(error).__name__
    return None


def upright(pixels: np.ndarray, path: str) -> np.ndarray:
    """``pixels`` as read by OpenCV (which ignores EXIF with ``IMREAD_UNCHANGED``) turned upright by
    ``path``'s EXIF orientation, if it has one."""
    try:
        with Image.open(path) as image:
            orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    except (OSError, SyntaxError, ValueError):
        return pixels
    return ORIENTATIONS[orientation](pixels) if orientation in ORIENTATIONS else pixels


def is_grey_with_alpha(path: str) -> bool:
    """Whether ``path`` stores grey with alpha (OpenCV reads it as BGRA)."""
    try:
        with Image.open(path) as image:
            return image.mode in ('LA', 'La')
    except (OSError, SyntaxError, ValueError):
        return False


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
    """The image at ``path``, upright; ``ValueError`` naming it if it is not a complete 8- or 16-bit
    grey, grey+alpha, RGB or RGBA image."""
    problem = decoding_problem(path)
    if problem:
        raise ValueError(f'{path}: a truncated or damaged image ({problem}).')
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f'{path}: not a readable image.')
    if image.dtype not in PEAKS:
        raise ValueError(f'{path}: {image.dtype} pixels; only 8- and 16-bit images are supported.')
    image = upright(image, path)
    peak = PEAKS[image.dtype]
    planes = image.reshape(image.shape[0], image.shape[1], -1)
    if planes.shape[2] not in (1, 3, 4):
        raise ValueError(f'{path}: {planes.shape[2]} channels; expected 1 (grey), 3 (colour) or 4 (with alpha).')
    grey = planes.shape[2] == 1 or (planes.shape[2] == 4 and is_grey_with_alpha(path))
    bgr = np.repeat(planes[..., :1], 3, axis=2) if grey else planes[..., :3]
    alpha = planes[..., 3].astype(np.float32) / peak if planes.shape[2] == 4 else None
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
    colour, its alpha upscaled bicubically, its bit depth), atomically. Grey with alpha is written as
    such at 8 bits (Pillow); OpenCV writes no 2-channel image, so at 16 bits it becomes grey RGBA."""
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
        alpha = (alpha * peak).round().astype(source.dtype)
        if source.grey and source.dtype == np.uint8:
            write_atomically(path, lambda tmp_path: Image.fromarray(np.dstack([out, alpha]), 'LA').save(
                tmp_path, format=Image.registered_extensions()['.' + path.rsplit('.', 1)[-1].lower()]))
            return
        out = np.dstack([cv2.cvtColor(out, cv2.COLOR_GRAY2BGR) if source.grey else out, alpha])

    def save(tmp_path: str) -> None:
        if not cv2.imwrite(tmp_path, out):
            raise ValueError(f'{path}: OpenCV could not write it.')

    write_atomically(path, save)


def resize_output(sr: Tensor, source: UserImage, outscale: float) -> Tensor:
    """``sr`` ``(1, C, h, w)`` resized to ``outscale`` x ``source``'s size with Lanczos (as Real-ESRGAN's
    ``--outscale``); the alpha channel follows in :func:`write_image`."""
    height, width = source.rgb.shape[-2:]
    size = (max(1, round(width * outscale)), max(1, round(height * outscale)))
    planes = sr[0].permute(1, 2, 0).float().cpu().numpy()
    resized = cv2.resize(planes, size, interpolation=cv2.INTER_LANCZOS4).reshape(size[1], size[0], -1)
    return torch.from_numpy(np.clip(resized, 0, 1)).permute(2, 0, 1)[None]
