"""What SR users expect of the command and its exports: the GPU by default (the CPU here), tiles for
huge images with no seams, and subnets exported as BasicSR .pth, safetensors and ONNX that other
tools load, ONNX checked by onnxruntime on sizes it was not traced at."""
import json

import cv2
import numpy as np
import onnxruntime
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from basicsr.archs import build_network
from conftest import NETWORK, REPO, load_script, photo_rgb, reset_basicsr_logger
from wbsr_basicsr.archs.wbsr_msrresnet_arch import WBSRMSRResNet
from wbsr_basicsr.runtime.runner import Runner


@pytest.mark.parametrize('upscale, size, tile', [(2, (45, 70), 16), (4, (33, 50), 21), (2, (40, 37), 13)])
def test_tiles_give_the_untiled_output(upscale, size, tile):
    """Tile sizes that do not divide the image; a margin (10) the networks' receptive field fits in (7 LR
    pixels for 2 blocks). RCAN's is the whole image (its channel attention pools all of it), so tiled
    RCAN differs slightly, as in every tiling tool."""
    torch.manual_seed(0)
    net = WBSRMSRResNet(num_feat=16, num_block=2, upscale=upscale, widths=(8, 16), depths=(1, 2)).eval()
    image = torch.rand(1, 3, *size)
    whole, tiled = (Runner(net, 32, 28, tile=t) for t in (None, tile))
    with torch.no_grad():
        for index in range(len(net.subnets)):
            assert (tiled.run_whole(index, image) - whole.run_whole(index, image)).abs().max() <= 1e-5


def test_the_command_runs_on_the_default_device_with_tiles(tmp_path, trained_wbsr, capsys):
    reset_basicsr_logger()
    command = load_script('inference_wbsr', REPO / 'inference' / 'inference_wbsr.py').main
    photo = tmp_path / 'photo.png'
    cv2.imwrite(str(photo), cv2.cvtColor(photo_rgb('chelsea')[:70, :90], cv2.COLOR_RGB2BGR))
    base = ['-i', str(photo), '--model', str(trained_wbsr), '--full']
    assert command(base + ['-o', str(tmp_path / 'whole')]) == 0
    printed = capsys.readouterr().out
    expected = 'cuda' if torch.cuda.is_available() else 'cpu'  # --device auto
    assert f'1 images, whole_16x2, {expected}' in printed
    assert command(base + ['-o', str(tmp_path / 'tiled'), '--tile', '24', '--tile-pad', '12']) == 0
    whole, tiled = (cv2.imread(str(tmp_path / folder / 'photo_wbsr.png')).astype(int) for folder in ('whole', 'tiled'))
    assert np.abs(whole - tiled).max() <= 1  # 8-bit outputs of one network, tiled or not
    cases = [(['--tile', '8', '--tile-pad', '8'], '--tile 8: a tile of 8 LR pixels is no larger than its margin'),
             (['--tile-pad', '4'], '--tile-pad is the margin of --tile; give --tile too'),
             (['--tile', '32', '--tile-pad', '-1'], '--tile-pad -1: a margin cannot be negative'),
             (['--fp16', '--fp32'], 'argument --fp32: not allowed with argument --fp16')]
    for extra, message in cases:
        try:
            status = command(base + ['-o', str(tmp_path / 'x')] + extra)
        except SystemExit as exit_:  # argparse
            status = exit_.code
        assert status == 2 and message in capsys.readouterr().err, extra
    try:
        routed = command(['-i', str(photo), '-o', str(tmp_path / 'x'), '--model', str(trained_wbsr), '--target',
                          '0.5', '--tile', '32'])
    except SystemExit as exit_:
        routed = exit_.code
    assert routed == 2 and '--tile applies to --full, --subnet and --target-time' in capsys.readouterr().err


def test_exports_load_where_users_load_them(tmp_path, trained_wbsr, capsys):
    export = load_script('export_subnet', REPO / 'scripts' / 'export_subnet.py').main
    supernet = WBSRMSRResNet(**{k: v for k, v in NETWORK.items() if k != 'type'})
    supernet.load_state_dict(torch.load(trained_wbsr, weights_only=True)['params'])
    supernet.eval()
    for subnet in ((8, 2), (16, 2)):
        name = f'{subnet[0]},{subnet[1]}'
        assert export(['--model', str(trained_wbsr), '--subnet', name, '--output', str(tmp_path / 'n.safetensors')]) == 0
        network = json.loads(safe_open(str(tmp_path / 'n.safetensors'), 'pt').metadata()['network_g'])
        plain = build_network(network)
        plain.load_state_dict(load_file(str(tmp_path / 'n.safetensors')), strict=True)
        assert network == dict(type='MSRResNet', num_in_ch=3, num_out_ch=3, num_feat=subnet[0], num_block=subnet[1],
                               upscale=2)
        assert export(['--model', str(trained_wbsr), '--subnet', name, '--output', str(tmp_path / 'n.onnx')]) == 0
        printed = capsys.readouterr().out
        difference = float(printed.split('max difference ')[1].split(';')[0])
        assert difference <= 1e-4
        session = onnxruntime.InferenceSession(str(tmp_path / 'n.onnx'), providers=['CPUExecutionProvider'])
        for size in ((30, 52), (81, 17)):  # neither the traced 64 x 64 nor the checked 47 x 71
            image = torch.rand(1, 3, *size)
            with torch.no_grad(), supernet.subnet(subnet):
                expected = supernet(image)
            output = session.run(None, {'lr': image.numpy()})[0]
            assert output.shape == (1, 3, 2 * size[0], 2 * size[1])
            assert np.abs(output - expected.numpy()).max() <= 1e-4
            with torch.no_grad():
                assert torch.allclose(plain.eval()(image), expected, atol=1e-5)
    bad = [(['--output', str(tmp_path / 'n.bin')], 'name it .pth, .safetensors or .onnx, or give --format'),
           (['--output', str(tmp_path / 'n.onnx'), '--format', 'tflite'], '--format tflite: choose one of pth, '
                                                                           'safetensors, onnx'),
           (['--output', str(tmp_path / 'n.onnx'), '--format', 'pth'], 'ends in .onnx but --format is pth')]
    for extra, message in bad:
        assert export(['--model', str(trained_wbsr), '--subnet', 'full'] + extra) == 2
        assert message in capsys.readouterr().err
