"""The command as SR users type it (Real-ESRGAN's spellings, the default output folder, a fast
--help), exports that stand alone, and what a user gets wrong: each a clear line or a correct result."""
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import onnxruntime
import pytest
import torch

from conftest import REPO, load_script, photo_rgb, reset_basicsr_logger
from wbsr_basicsr.inference.supernet_entry import load_supernet

COMMANDS = ('wbsr-infer', 'wbsr-export', 'wbsr-calibrate', 'wbsr-plot-frontier', 'wbsr-train', 'wbsr-test',
            'wbsr-prepare-div2k', 'wbsr-prepare-benchmarks')


@pytest.fixture
def command():
    reset_basicsr_logger()
    return load_script('inference_wbsr', REPO / 'inference' / 'inference_wbsr.py').main


@pytest.fixture
def export():
    return load_script('export_subnet', REPO / 'scripts' / 'export_subnet.py').main


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / 'a.png'
    cv2.imwrite(str(path), cv2.cvtColor(photo_rgb('chelsea')[:50, :70], cv2.COLOR_RGB2BGR))
    return path


def run(command, argv):
    """The exit status, argparse's included."""
    try:
        return command(argv)
    except SystemExit as exit_:
        return exit_.code


def test_real_esrgans_line_runs_and_outscale_resizes(tmp_path, photo, trained_wbsr, command, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ['-i', str(photo), '--model', str(trained_wbsr), '--full', '-s', '3', '-t', '32', '--tile_pad', '6',
            '--pre_pad', '4']
    assert command(argv) == 0  # -o defaults to results/
    out = cv2.imread(str(tmp_path / 'results' / 'a_wbsr.png'))
    assert out.shape == (150, 210, 3)  # x3 from an x2 network
    assert 'a.png: 70x50 -> 210x150' in capsys.readouterr().out
    assert command(['-i', str(photo), '-o', 'plain', '--model', str(trained_wbsr), '--full']) == 0
    plain = cv2.imread(str(tmp_path / 'plain' / 'a_wbsr.png'))
    expected = cv2.resize(plain.astype(np.float32), (210, 150), interpolation=cv2.INTER_LANCZOS4)
    assert np.abs(out.astype(np.float32) - expected).mean() < 2  # the x2 output, resized (the padding differs)
    if not torch.cuda.is_available():
        assert run(command, ['-i', str(photo), '--model', str(trained_wbsr), '-g', '0']) == 2
        assert '--device cuda:0: CUDA is not available on this machine' in capsys.readouterr().err


def test_tiles_count_their_margins_in_the_printed_share(tmp_path, photo, trained_wbsr, command, capsys):
    assert command(['-i', str(photo), '-o', str(tmp_path / 'r'), '--model', str(trained_wbsr), '--full', '-t', '16',
                    '--tile-pad', '8']) == 0
    share = float(capsys.readouterr().out.split('s, ')[1].split('%')[0])
    net, _, _ = load_supernet(str(trained_wbsr))
    margins = sum(net.flops(None, (min(50, top + 24) - max(0, top - 8), min(70, left + 24) - max(0, left - 8)))
                  for top in range(0, 50, 16) for left in range(0, 70, 16))
    assert share == pytest.approx(100 * margins / net.flops(None, (50, 70)), abs=0.1) and share > 200


@pytest.mark.parametrize('argv, message', [
    (['--device', 'gpu'], '--device gpu: choose auto, cpu, cuda or cuda:N'),
    (['--device', 'mps'], '--device mps: choose auto, cpu, cuda or cuda:N'),
    (['--target-time', '1.5'], "--target-time 1.5: give a share of the full network's time in (0, 1]"),
    (['--target', '0'], "--target 0.0: give a share of the full network's FLOPs in (0, 1]"),
    (['-s', '0'], '--outscale 0.0: give an output scale in (0, 16]'),
    (['--pre_pad', '-1'], '--pre-pad -1: a border cannot be negative'),
    (['-n', 'RealESRGAN_x4plus'], '-n RealESRGAN_x4plus: no shipped model of that name'),
    (['--units', 'image'], '--units are the routing units --target-time weighs; give --target-time too'),
    (['--target-time', '0.5', '--ladder', 'full'], '--ladder applies to --target, --ceil, --alpha, --row; '
                                                  '--target-time does not use it'),
    (['--target-time', '0.5', '--units', 'image,tiles'], "Unknown routing unit 'tiles'; choose from"),
    (['--target-time', '0.5', '--units', 'tile8'], 'tile units take their size in LR pixels, at least 16')])
def test_bad_values_are_one_line_naming_the_program(tmp_path, photo, trained_wbsr, command, capsys, argv, message):
    model = [] if '-n' in argv else ['--model', str(trained_wbsr)]
    assert run(command, ['-i', str(photo), '-o', str(tmp_path / 'r'), *model, *argv]) == 2
    error = capsys.readouterr().err
    assert error.startswith('inference_wbsr.py: ') and message in error and len(error.strip().splitlines()) == 1, error
    assert not (tmp_path / 'r').exists()


WITHOUT_TORCH = """import sys
from importlib.metadata import entry_points
name, flag = sys.argv[1:]
command = [e for e in entry_points(group='console_scripts') if e.name == name][0]
assert command.value.startswith('wbsr_cli.'), command.value
sys.argv = [name, flag]
try:
    command.load()()
except SystemExit as stop:
    status = stop.code
assert 'torch' not in sys.modules and 'basicsr' not in sys.modules, 'imported'
sys.exit(status)
"""


@pytest.mark.parametrize('name', COMMANDS)
def test_every_command_parses_before_torch_is_imported(name):
    """--help and a mistyped option answer from the standard library alone, for every console script."""
    result = subprocess.run([sys.executable, '-c', WITHOUT_TORCH, name, '--help'], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.startswith(f'usage: {name}'), result.stderr[-800:]
    if name == 'wbsr-infer':
        assert '-t TILE, --tile TILE' in result.stdout
    result = subprocess.run([sys.executable, '-c', WITHOUT_TORCH, name, '--tlie'], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and f'{name}: error: ' in result.stderr, result.stderr[-800:]  # argparse's line


def test_an_onnx_export_copied_alone_loads_and_matches(tmp_path, trained_wbsr, export):
    made = tmp_path / 'made'
    made.mkdir()
    assert export(['--model', str(trained_wbsr), '--subnet', '8,2', '--output', str(made / 'm.onnx')]) == 0
    assert os.listdir(made) == ['m.onnx']  # one file: the weights inside
    alone = tmp_path / 'elsewhere'
    alone.mkdir()
    shutil.copy(made / 'm.onnx', alone / 'm.onnx')
    session = onnxruntime.InferenceSession(str(alone / 'm.onnx'), providers=['CPUExecutionProvider'])
    net, _, _ = load_supernet(str(trained_wbsr))
    image = torch.rand(1, 3, 23, 31, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = net.extract_subnet((8, 2)).eval()(image).numpy()
    assert np.abs(session.run(None, {'lr': image.numpy()})[0] - expected).max() <= 1e-4


def test_an_export_never_replaces_its_checkpoint_nor_leaves_a_traceback(tmp_path, trained_wbsr, export, capsys):
    checkpoint = tmp_path / 'net_g_latest.pth'
    shutil.copy(trained_wbsr, checkpoint)
    original = checkpoint.read_bytes()
    assert export(['--model', str(checkpoint), '--subnet', 'full', '--output', str(checkpoint)]) == 2
    assert 'is the checkpoint being exported; choose another file name' in capsys.readouterr().err
    assert checkpoint.read_bytes() == original
    for suffix in ('pth', 'safetensors', 'onnx'):  # a folder no one can write to (a read-only file system)
        assert export(['--model', str(checkpoint), '--subnet', 'full', '--output', f'/proc/m.{suffix}']) == 2
        error = capsys.readouterr().err
        assert error.startswith('export_subnet.py: /proc/m.') and 'cannot write it' in error, error


def test_exports_are_written_with_the_usual_permissions(tmp_path, trained_wbsr, export):
    mask = os.umask(0o022)
    try:
        for suffix in ('pth', 'safetensors'):
            assert export(['--model', str(trained_wbsr), '--subnet', 'full', '--output', str(tmp_path / f'm.{suffix}')]) == 0
            assert (tmp_path / f'm.{suffix}').stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(mask)


def test_a_time_budget_on_an_image_too_small_to_time_says_so(tmp_path, trained_wbsr, command, capsys):
    tiny = tmp_path / 'tiny.png'
    cv2.imwrite(str(tiny), cv2.cvtColor(photo_rgb('coffee')[:8, :8], cv2.COLOR_RGB2BGR))
    assert command(['-i', str(tiny), '-o', str(tmp_path / 'r'), '--model', str(trained_wbsr), '--target-time',
                    '0.3']) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith('tiny.png'))
    assert 'too small for a time budget: under 2304 LR pixels' in line and 'predicted time' not in line, line


def test_console_scripts_are_installed():
    bin_folder = os.path.dirname(sys.executable)
    for name in COMMANDS:
        result = subprocess.run([os.path.join(bin_folder, name), '--help'], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and 'usage' in result.stdout.lower(), (name, result.stderr[-500:])


def test_the_parsers_choices_are_the_packages():
    """wbsr_cli names the ladders, the default units, the scopes and the plot's axes without importing the
    routers (which import torch): they must agree."""
    from wbsr_basicsr.routing.gradient_router import LADDERS
    from wbsr_basicsr.plans.plan_row import DEFAULT_UNITS
    from wbsr_basicsr.routing.scopes import SCOPES
    from wbsr_cli import plot_frontier
    from wbsr_cli.infer import LADDERS as PARSED, parser
    from wbsr_cli.jobs.plot_frontier import AXES
    assert PARSED == LADDERS
    assert f'(default: {",".join(DEFAULT_UNITS)};' in ' '.join(parser().format_help().split())
    assert plot_frontier.SCOPES == tuple(SCOPES) and plot_frontier.X_AXES == tuple(AXES)
