"""The shared gradient statistics: the separable Sobel against its 3 x 3 definition, torch and numpy alike."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from conftest import photo_rgb
from wbsr_basicsr.utils.gradient_stats import (LUMA_WEIGHTS, SOBEL_H, gradient_vectors_at, patch_gradient_vectors,
                                               sobel_magnitudes)


def photo_patches(channels: int) -> torch.Tensor:
    """40 patches of 24 x 24 from a real photo (plus one nearly flat patch), RGB or gray, in [0, 1]."""
    rgb = torch.from_numpy(photo_rgb('astronaut')).permute(2, 0, 1).float() / 255
    patches = rgb.unfold(1, 24, 60).unfold(2, 24, 60).permute(1, 2, 0, 3, 4).reshape(-1, 3, 24, 24)[:40]
    patches = torch.cat([patches, 0.5 + 1e-4 * torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))])
    return patches if channels == 3 else (patches * torch.tensor(LUMA_WEIGHTS).view(3, 1, 1)).sum(1, keepdim=True)


@pytest.mark.parametrize('channels', [3, 1])
def test_sobel_magnitudes_are_the_3x3_sobel_of_the_luma(channels):
    patches = photo_patches(channels)
    sobel_h = torch.tensor(SOBEL_H)
    weights = torch.tensor(LUMA_WEIGHTS if channels == 3 else (1.,))
    kernels = torch.stack([sobel_h, sobel_h.t()])[:, None] * weights.view(1, -1, 1, 1)
    expected = F.conv2d(patches.double(), kernels.double()).abs()
    assert torch.allclose(sobel_magnitudes(patches).double(), expected, atol=1e-6)
    assert np.allclose(sobel_magnitudes(patches.numpy()), expected.numpy(), atol=1e-6)


@pytest.mark.parametrize('channels', [3, 1])
def test_patch_vectors_agree_across_torch_numpy_and_the_grid_path(channels):
    patches = photo_patches(channels)
    vectors = patch_gradient_vectors(patches)
    assert vectors.shape == (len(patches), 4) and vectors.dtype == torch.float32
    from_numpy = patch_gradient_vectors(patches.numpy())
    assert from_numpy.dtype == np.float32 and np.allclose(from_numpy, vectors.numpy(), atol=1e-6)
    # One window covering each patch, by integral images in float64: the same vector.
    grid = gradient_vectors_at(patches, 24, [0], [0])[:, 0, 0]
    assert torch.allclose(vectors, grid, atol=1e-5)
    assert vectors[:-1].sum(-1).min() > 100 * vectors[-1].sum()  # the flat patch scores far below photo patches


def test_bad_patches_raise():
    with pytest.raises(ValueError, match='square and at least 3 x 3'):
        patch_gradient_vectors(torch.rand(2, 3, 8, 9))
    with pytest.raises(ValueError, match='1 or 3 channels'):
        sobel_magnitudes(np.zeros((2, 4, 8, 8), dtype=np.float32))
