"""One subnet of a supernet as a file other tools load (docs/inference.md, "Deployment").

- ``pth``: BasicSR's network file, ``{'params': state_dict}`` of the plain network (``MSRResNet``,
  ``RCAN``), which BasicSR's ``test.py`` and traiNNer-redux load with the printed ``network_g``;
- ``safetensors``: the same state dict as safetensors (no pickled code), the network's options in
  its metadata (``network_g``, JSON);
- ``onnx``: the network with dynamic height and width, input ``lr`` ``(1, C, H, W)`` in [0, 1],
  output ``sr`` ``(1, C, H*s, W*s)``, its weights inside the one file (a network over protobuf's
  2 GB limit is refused); after export, onnxruntime runs it on an image of another size than the
  one traced and must match PyTorch (:data:`ONNX_TOLERANCE`), else nothing is written.

Every file is written under a temporary name and renamed when complete; a failure to write is a
``ValueError`` naming the file.
"""
import contextlib
import io
import json
import os
import warnings
from typing import Dict, Tuple

import numpy as np
import torch
from torch import nn

from wbsr_basicsr.archs.slimmable import SlimmableSupernet, Subnet
from wbsr_basicsr.utils.atomic import partial_path, write_atomically

FORMATS = ('pth', 'safetensors', 'onnx')
ONNX_TRACE_SIZE = (64, 64)
ONNX_CHECK_SIZE = (47, 71)
"""The LR size traced, and another one, odd on both sides, that the exported graph is checked on."""
ONNX_TOLERANCE = 1e-4


def format_of(path: str, asked: str = '') -> str:
    """The format ``asked`` for, or the one the file name's extension names; ``ValueError`` if neither
    names one of :data:`FORMATS` or they disagree."""
    extension = path.rsplit('.', 1)[-1].lower() if '.' in path else ''
    if asked and asked not in FORMATS:
        raise ValueError(f'--format {asked}: choose one of {", ".join(FORMATS)}.')
    if asked and extension in FORMATS and extension != asked:
        raise ValueError(f'--output {path} ends in .{extension} but --format is {asked}; make them agree.')
    if not asked and extension not in FORMATS:
        raise ValueError(f'--output {path}: name it .pth, .safetensors or .onnx, or give --format.')
    return asked or extension


def export_dependency(module: str):
    """The module ``module`` of the ``export`` extra; ``ValueError`` saying how to install it if absent."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(f'this export needs {module.split(".")[0]}: pip install "wbsr_basicsr[export]".') from None


def network_options(net: SlimmableSupernet, subnet: Subnet) -> Dict:
    """The ``network_g`` section that builds ``subnet`` as the plain BasicSR network it is."""
    return dict(type=net.plain_arch, **net.plain_options(subnet))


ONNX_SIZE_LIMIT = 2 ** 31 - 1
"""Protobuf's limit on one message: above it ONNX needs its weights in a second file, which we never write."""


def export(net: SlimmableSupernet, subnet: Subnet, path: str, file_format: str) -> str:
    """Write ``subnet`` of ``net`` to ``path`` as ``file_format``; what was written, for the command to print.
    ``ValueError`` naming the file if it cannot be written there (checked first: torch and safetensors
    report that as errors of their own)."""
    probe = partial_path(path)
    try:
        open(probe, 'wb').close()
        os.remove(probe)
    except OSError as error:
        raise ValueError(f'{path}: cannot write it ({error.strerror or error}).') from None
    return _export(net, subnet, path, file_format)


def _export(net: SlimmableSupernet, subnet: Subnet, path: str, file_format: str) -> str:
    if file_format == 'pth':
        net.export_subnet(subnet, path)
        return 'a BasicSR network file'
    plain = net.extract_subnet(subnet).cpu().eval()
    if file_format == 'safetensors':
        save_file = export_dependency('safetensors.torch').save_file
        state = {name: tensor.detach().contiguous() for name, tensor in plain.state_dict().items()}
        metadata = {'network_g': json.dumps(network_options(net, subnet))}
        write_atomically(path, lambda tmp_path: save_file(state, tmp_path, metadata=metadata))
        return 'a safetensors state dict (network_g in its metadata)'
    difference = write_onnx(plain, path)
    return (f'an ONNX graph with dynamic height and width, checked by onnxruntime against PyTorch on a '
            f'{ONNX_CHECK_SIZE[1]}x{ONNX_CHECK_SIZE[0]} image (traced at {ONNX_TRACE_SIZE[1]}x{ONNX_TRACE_SIZE[0]}): '
            f'max difference {difference:.2e}')


def write_onnx(plain: nn.Module, path: str) -> float:
    """Export ``plain`` to ONNX at ``path``, one self-contained file, and check it on another size; the
    max difference to PyTorch."""
    weight_bytes = sum(p.numel() * p.element_size() for p in plain.state_dict().values())
    if weight_bytes >= ONNX_SIZE_LIMIT:
        raise ValueError(f'{path}: the network\'s {weight_bytes / 2 ** 30:.1f} GiB of weights do not fit in one ONNX '
                         'file (protobuf limit 2 GiB); export it as .safetensors.')
    channels = next(plain.parameters()).shape[1]
    example = torch.rand(1, channels, *ONNX_TRACE_SIZE, generator=torch.Generator().manual_seed(0))
    height, width = torch.export.Dim('height', min=4), torch.export.Dim('width', min=4)

    def write(tmp_path: str) -> float:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter('ignore')
            torch.onnx.export(plain, (example,), tmp_path, input_names=['lr'], output_names=['sr'], dynamo=True,
                              dynamic_shapes={'x': {2: height, 3: width}}, verbose=False,
                              external_data=False)
        return onnx_difference(plain, tmp_path, ONNX_CHECK_SIZE)

    return write_atomically(path, write)


def onnx_difference(plain: nn.Module, path: str, size: Tuple[int, int]) -> float:
    """The max difference between onnxruntime's output of the graph at ``path`` and PyTorch's, on a
    random ``size`` image; ``ValueError`` above :data:`ONNX_TOLERANCE`."""
    onnxruntime = export_dependency('onnxruntime')
    channels = next(plain.parameters()).shape[1]
    image = torch.rand(1, channels, *size, generator=torch.Generator().manual_seed(1))
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    output = session.run(None, {'lr': image.numpy()})[0]
    with torch.no_grad():
        expected = plain(image).numpy()
    if output.shape != expected.shape:
        raise ValueError(f'the ONNX graph gave {output.shape} for a {size} image, PyTorch {expected.shape}.')
    difference = float(np.abs(output - expected).max())
    if difference > ONNX_TOLERANCE:
        raise ValueError(f'the ONNX graph differs from PyTorch by {difference:.2e} (tolerance {ONNX_TOLERANCE}).')
    return difference
