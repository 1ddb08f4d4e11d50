"""wbsr-prepare-div2k (wbsr_cli/prepare.py, wbsr_basicsr/prepare/div2k.py; script datasets_prep/prepare_div2k.py)
on scikit-image's photos arranged as a miniature DIV2K."""
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from basicsr.data import build_dataset
from basicsr.utils import FileClient, imfrombytes
from conftest import COLOUR_PHOTOS, PREPARE_DIV2K as SCRIPT, photo_rgb, write_mini_div2k
from wbsr_basicsr.data.hes_statistics import HESStatistics
from wbsr_basicsr.losses.bdloss_prior import load_prior
from wbsr_basicsr.prepare.common import bicubic_downsample
from wbsr_basicsr.utils.atomic import is_partial
from wbsr_basicsr.utils.gradient_stats import grid_gradient_vectors
from wbsr_cli.prepare import div2k as prepare_div2k

SMALL = ['--crop-size', '96', '--step', '48', '--thresh-size', '12', '--gt-size', '48', '--gmm-samples', '6000',
         '--gmm-components', '4', '--routing-patch', '16', '--routing-stride', '12', '--workers', '2']



def prepare(input_root: Path, output: Path, *extra: str) -> int:
    return prepare_div2k(['--input', str(input_root), '--output', str(output), *SMALL, *extra])


@functools.lru_cache(maxsize=None)
def lmdb_client(lmdb_path: Path) -> FileClient:
    """One BasicSR LMDB client per path: LMDB refuses to open an environment twice in a process."""
    return FileClient('lmdb', db_paths=[str(lmdb_path)], client_keys=['db'])


def lmdb_image(lmdb_path: Path, key: str) -> np.ndarray:
    return imfrombytes(lmdb_client(lmdb_path).get(key, 'db'), float32=False)


@pytest.fixture(scope='module')
def prepared(tmp_path_factory):
    """One complete run, scales 2 and 4, X4 from an official LR folder, X2 generated."""
    root = tmp_path_factory.mktemp('prep')
    source = write_mini_div2k(root / 'DIV2K', official_scales=(4, ))
    output = root / 'out'
    assert prepare(source, output, '--scales', '2', '4') == 0
    return source, output


def test_outputs_complete_and_nothing_incomplete_left(prepared):
    _, output = prepared
    assert sorted(os.listdir(output)) == [
        'DIV2K_train_HR_sub.lmdb', 'DIV2K_train_LR_bicubic_X2_sub.lmdb', 'DIV2K_train_LR_bicubic_X4_sub.lmdb',
        'bdloss_prior.json', 'hes_stats_X2.npz', 'hes_stats_X4.npz', 'routing_stats_X2.npz', 'routing_stats_X4.npz']


def test_lmdbs_read_by_basicsr_paired_image_dataset(prepared):
    _, output = prepared
    meta = (output / 'DIV2K_train_HR_sub.lmdb' / 'meta_info.txt').read_text().splitlines()
    assert meta[0] == '0001_s001.png (96,96,3) 1'
    for scale in (2, 4):
        dataset = build_dataset(dict(
            name='div2k_lmdb', type='PairedImageDataset', phase='train', scale=scale,
            dataroot_gt=str(output / 'DIV2K_train_HR_sub.lmdb'),
            dataroot_lq=str(output / f'DIV2K_train_LR_bicubic_X{scale}_sub.lmdb'),
            io_backend=dict(type='lmdb'), gt_size=48, use_hflip=True, use_rot=True))
        assert len(dataset) == len(meta)
        item = dataset[len(dataset) - 1]
        assert item['gt'].shape == (3, 48, 48) and item['lq'].shape == (3, 48 // scale, 48 // scale)


def test_hr_sub_images_are_crops_of_the_source(prepared):
    source, output = prepared
    hr = cv2.imread(str(source / 'DIV2K_train_HR' / '0002.png'))  # chelsea, 451 x 300
    # BasicSR's scheme on 444 x 300 (multiples of 12): tops 0..192 and lefts 0..336 every 48; the
    # 12 pixels left at each border are not more than --thresh-size 12, so no extra border crop.
    tops, lefts = list(range(0, 193, 48)), list(range(0, 337, 48))
    assert lmdb_image(output / 'DIV2K_train_HR_sub.lmdb', '0002_s001').tolist() == hr[:96, :96].tolist()
    key = f'0002_s{len(lefts) * 4 + 2:03d}'  # last row (top 192), second column (left 48)
    assert np.array_equal(lmdb_image(output / 'DIV2K_train_HR_sub.lmdb', key), hr[192:288, 48:144])
    assert len(tops) * len(lefts) == sum(
        1 for line in (output / 'DIV2K_train_HR_sub.lmdb' / 'meta_info.txt').read_text().splitlines()
        if line.startswith('0002_'))


def test_generated_lr_is_bicubic_of_the_hr_crop(prepared):
    _, output = prepared
    for key in ('0001_s001', '0003_s007'):
        hr_sub = lmdb_image(output / 'DIV2K_train_HR_sub.lmdb', key)
        lr_sub = lmdb_image(output / 'DIV2K_train_LR_bicubic_X2_sub.lmdb', key)
        assert np.array_equal(lr_sub, bicubic_downsample(hr_sub, 2))


def test_official_lr_is_cut_at_the_aligned_position(prepared):
    source, output = prepared
    official = cv2.imread(str(source / 'DIV2K_train_LR_bicubic' / 'X4' / '0001x4.png'))
    # astronaut 512 x 512 -> 504 x 504; second sub-image of the first row: HR left 48 -> LR left 12.
    assert np.array_equal(lmdb_image(output / 'DIV2K_train_LR_bicubic_X4_sub.lmdb', '0001_s002'),
                          official[0:24, 12:36])


def test_hes_statistics_thresholds_counts_and_vectors(prepared):
    _, output = prepared
    with np.load(output / 'hes_stats_X4.npz') as stats:
        meta = json.loads(str(stats['meta']))
        scores, thresholds, counts = stats['scores'], stats['thresholds'], stats['counts']
        keys, positions, vectors = stats['keys'], stats['positions'], stats['vectors']
    assert meta['scale'] == 4 and meta['patch_size'] == 12 and meta['num_classes'] == 10
    assert meta['lr_source'] == 'official'
    ordered = np.sort(scores)
    assert np.array_equal(thresholds, ordered[(np.arange(1, 10) * len(scores)) // 10])
    assert counts.sum() == len(scores) == len(positions) == len(vectors)
    assert np.array_equal(counts, np.bincount(np.searchsorted(thresholds, scores, side='right'), minlength=10))
    assert np.allclose(scores, vectors.sum(axis=1))
    # Recompute one sub-image's candidates from the LMDB with the shared helper.
    index = 5
    lr = lmdb_image(output / 'DIV2K_train_LR_bicubic_X4_sub.lmdb', str(keys[index]))
    rgb = torch.from_numpy(lr[..., ::-1].astype(np.float32).copy() / 255.).permute(2, 0, 1)[None]
    expected = grid_gradient_vectors(rgb, 12, 6).reshape(-1, 4).numpy()
    rows = positions[:, 0] == index
    assert np.allclose(vectors[rows], expected, atol=1e-6)
    assert positions[rows][:, 1:].max() == 24 - 12

    # Routing statistics: the same LR sub-images, chopped as dynamic inference chops them.
    routing = HESStatistics.load(str(output / 'routing_stats_X4.npz'))
    assert (routing.patch_size, routing.stride, routing.scale) == (16, 12, 4)
    routed_rows = routing.positions[:, 0] == index
    assert np.allclose(routing.vectors[routed_rows], grid_gradient_vectors(rgb, 16, 12).reshape(-1, 4).numpy(),
                       atol=1e-6)


def test_prior_file_has_both_spaces(prepared):
    _, output = prepared
    for space in ('detail', 'intensity'):
        prior = load_prior(str(output / 'bdloss_prior.json'), space)
        assert len(prior.weights) == 4
        assert abs(sum(prior.weights) - 1) < 1e-6 and min(prior.variances) > 0


def test_rerun_skips_complete_outputs_and_adds_a_scale(prepared, tmp_path, capsys):
    source, output = prepared
    stamps = {name: os.stat(output / name).st_mtime_ns for name in os.listdir(output)}
    assert prepare(source, output, '--scales', '2', '4') == 0
    assert 'every output' in capsys.readouterr().out
    assert {name: os.stat(output / name).st_mtime_ns for name in os.listdir(output)} == stamps
    # A new scale rebuilds only its own outputs.
    copy = tmp_path / 'out'
    subprocess.run(['cp', '-a', str(output), str(copy)], check=True)
    assert prepare(source, copy, '--scales', '3', '4') == 0
    printed = capsys.readouterr().out
    assert 'complete, skipped' in printed and 'DIV2K_train_HR_sub.lmdb' in printed
    assert (copy / 'hes_stats_X3.npz').is_file() and (copy / 'DIV2K_train_LR_bicubic_X3_sub.lmdb').is_dir()
    assert os.stat(copy / 'DIV2K_train_HR_sub.lmdb' / 'data.mdb').st_size == \
        os.stat(output / 'DIV2K_train_HR_sub.lmdb' / 'data.mdb').st_size


def test_a_rerun_on_other_inputs_is_refused_not_mixed(tmp_path, capsys):
    """x2 prepared, then one image added and one removed: the x2 outputs no longer match the inputs, and
    a run adding x4 must not make x4 outputs from the new list beside the old HR LMDB."""
    source = write_mini_div2k(tmp_path / 'DIV2K')
    output = tmp_path / 'out'
    assert prepare(source, output, '--scales', '2') == 0
    hr = source / 'DIV2K_train_HR'
    (hr / '0001.png').unlink()
    cv2.imwrite(str(hr / '0009.png'), cv2.cvtColor(photo_rgb('rocket'), cv2.COLOR_RGB2BGR))
    assert prepare(source, output, '--scales', '2', '4') == 1
    error = capsys.readouterr().err
    assert 'DIV2K_train_HR_sub.lmdb: was made from other input images; delete it to rebuild it' in error
    assert sorted(os.listdir(output)) == ['DIV2K_train_HR_sub.lmdb', 'DIV2K_train_LR_bicubic_X2_sub.lmdb',
                                          'bdloss_prior.json', 'hes_stats_X2.npz', 'routing_stats_X2.npz']


def test_an_image_replaced_by_one_of_the_same_size_is_refused(tmp_path, capsys):
    """BMP files of one size have one byte count: the fingerprint must see their contents."""
    source = tmp_path / 'DIV2K'
    hr = source / 'DIV2K_train_HR'
    hr.mkdir(parents=True)
    for index, name in enumerate(('astronaut', 'coffee'), start=1):
        cv2.imwrite(str(hr / f'{index:04d}.bmp'), cv2.cvtColor(photo_rgb(name)[:300, :400], cv2.COLOR_RGB2BGR))
    output = tmp_path / 'out'
    assert prepare(source, output, '--scales', '2') == 0
    size = os.path.getsize(hr / '0001.bmp')
    cv2.imwrite(str(hr / '0001.bmp'), cv2.cvtColor(photo_rgb('chelsea')[:300, :400], cv2.COLOR_RGB2BGR))
    assert os.path.getsize(hr / '0001.bmp') == size
    assert prepare(source, output, '--scales', '2', '4') == 1
    assert 'DIV2K_train_HR_sub.lmdb: was made from other input images' in capsys.readouterr().err
    assert not (output / 'DIV2K_train_LR_bicubic_X4_sub.lmdb').exists()


def test_run_options_and_an_unwritable_output_are_one_line_errors(tmp_path, capsys):
    source = write_mini_div2k(tmp_path / 'DIV2K')
    with pytest.raises(SystemExit):
        prepare_div2k(['--input', str(source), '--output', str(tmp_path / 'out'), '--workers', '0'])
    assert "argument --workers: 0 must be at least 1" in capsys.readouterr().err
    assert prepare(source, Path('/proc/wbsr_out'), '--scales', '2') == 1  # a read-only file system
    assert capsys.readouterr().err.startswith('error: /proc/wbsr_out: ')


def test_settings_change_is_refused(prepared, capsys):
    source, output = prepared
    assert prepare(source, output, '--scales', '4', '--num-classes', '5') == 1
    error = capsys.readouterr().err
    assert 'hes_stats_X4.npz: was made from other settings (num_classes: 10 there, 5 now)' in error


def break_corrupt(root: Path) -> str:
    path = root / 'DIV2K_train_HR' / '0002.png'
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + b'garbage' * 20)
    return f'{path}: cannot be read'


def break_lr_size(root: Path) -> str:
    path = root / 'DIV2K_train_LR_bicubic' / 'X4' / '0002x4.png'
    cv2.imwrite(str(path), np.zeros((50, 60, 3), np.uint8))
    return f'{path}: LR size 60x50 is not HR size / 4 = 112x75 or 113x75.'


def break_missing_partner(root: Path) -> str:
    path = root / 'DIV2K_train_LR_bicubic' / 'X4' / '0003x4.png'
    path.unlink()
    return f"no LR partner {path} for scale 4"


def break_truncated_jpeg(root: Path) -> str:
    """A JPEG cut in half: OpenCV decodes it with a grey bottom and only a warning."""
    png = root / 'DIV2K_train_HR' / '0002.png'
    path = png.with_suffix('.jpg')
    ok, data = cv2.imencode('.jpg', cv2.imread(str(png)))
    path.write_bytes(data.tobytes()[:len(data) // 2])
    png.unlink()
    return f'{path}: a truncated or damaged image (image file is truncated'


def break_too_small(root: Path) -> str:
    path = root / 'DIV2K_train_HR' / '0002.png'
    cv2.imwrite(str(path), np.zeros((80, 200, 3), np.uint8))
    return f'{path}: 200x80 is smaller than the crop size 96'


@pytest.mark.parametrize('breaker', [break_corrupt, break_lr_size, break_missing_partner, break_truncated_jpeg,
                                     break_too_small])
def test_bad_image_stops_with_clear_error_and_no_output(tmp_path, capsys, breaker):
    source = write_mini_div2k(tmp_path / 'DIV2K', official_scales=(4, ))
    expected = breaker(source)
    output = tmp_path / 'out'
    assert prepare(source, output, '--scales', '4') == 1
    assert expected in capsys.readouterr().err
    assert not output.exists() or os.listdir(output) == []

    # --skip-bad turns it into a logged skip and writes the rest.
    assert prepare(source, output, '--scales', '4', '--skip-bad') == 0
    printed = capsys.readouterr().out
    assert 'skipped 1 bad input(s)' in printed and expected in printed
    keys = (output / 'DIV2K_train_HR_sub.lmdb' / 'meta_info.txt').read_text()
    assert '0001_s001' in keys and keys.count('_s001') == 2
    assert json.loads((output / 'bdloss_prior.json').read_text())['samples'] >= 6000  # --gmm-samples, kept


def test_two_images_with_one_name_are_refused(tmp_path, capsys):
    """0001.png and 0001.jpg: the LMDB would keep one while meta_info and the statistics counted both."""
    source = write_mini_div2k(tmp_path / 'DIV2K')
    twin = source / 'DIV2K_train_HR' / '0001.jpg'
    cv2.imwrite(str(twin), photo_rgb('coffee'))
    assert prepare(source, tmp_path / 'out', '--scales', '4') == 1
    assert f"{twin} and {source / 'DIV2K_train_HR' / '0001.png'} have the same name '0001'" in capsys.readouterr().err
    assert not (tmp_path / 'out').exists() or os.listdir(tmp_path / 'out') == []


def test_empty_input_and_foreign_output_are_refused(tmp_path, capsys):
    (tmp_path / 'empty' / 'DIV2K_train_HR').mkdir(parents=True)
    assert prepare(tmp_path / 'empty', tmp_path / 'out', '--scales', '4') == 1
    assert f"{tmp_path / 'empty' / 'DIV2K_train_HR'}: input folder holds no images" in capsys.readouterr().err

    source = write_mini_div2k(tmp_path / 'DIV2K')
    foreign = tmp_path / 'out2' / 'DIV2K_train_HR_sub.lmdb'
    foreign.mkdir(parents=True)
    (foreign / 'data.mdb').write_bytes(b'someone else')
    assert prepare(source, tmp_path / 'out2', '--scales', '4') == 1
    assert f'{foreign}: exists but was not made by prepare_div2k.py' in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path / 'out2')) == ['DIV2K_train_HR_sub.lmdb']
    assert (foreign / 'data.mdb').read_bytes() == b'someone else'


def test_killed_run_leaves_nothing_that_looks_complete(tmp_path):
    source = write_mini_div2k(tmp_path / 'DIV2K', names=COLOUR_PHOTOS[:4])
    output = tmp_path / 'out'
    command = [sys.executable, str(SCRIPT), '--input', str(source), '--output', str(output), '--scales', '2',
               *SMALL[:-2], '--workers', '1']
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (output.exists() and any(
            is_partial(name) for name in os.listdir(output))):
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    names = os.listdir(output)
    assert names and all(is_partial(name) for name in names), names

    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'left by an interrupted run' in result.stdout
    assert sorted(os.listdir(output)) == ['DIV2K_train_HR_sub.lmdb', 'DIV2K_train_LR_bicubic_X2_sub.lmdb',
                                          'bdloss_prior.json', 'hes_stats_X2.npz', 'routing_stats_X2.npz']


@pytest.mark.parametrize('options, message', [
    (['--scales', '5'], 'not supported'),
    (['--scales', '4', '--routing-stride', '40'], 'routing-stride'),
    (['--scales', '3', '--gt-size', '128'], 'must be divisible by every scale (not by [3])'),
    (['--crop-size', '100'], 'must be a positive multiple of 12'),
    (['--num-classes', '1'], 'at least 2'),
])
def test_bad_settings_are_refused(tmp_path, capsys, options, message):
    source = write_mini_div2k(tmp_path / 'DIV2K', names=COLOUR_PHOTOS[:1])
    assert prepare_div2k(['--input', str(source), '--output', str(tmp_path / 'out'), *options]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()
