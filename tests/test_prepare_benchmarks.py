"""wbsr-prepare-benchmarks (wbsr_cli/prepare.py, wbsr_basicsr/prepare/benchmarks.py; script:
datasets_prep/prepare_benchmarks.py): BasicSR layout, mod-crop, bicubic LR, DIV8K split, any folder
as a set, bad input."""
import os
from pathlib import Path

import cv2
import numpy as np

from basicsr.data import build_dataset
from conftest import photo_rgb
from skimage import data as skimage_data
from wbsr_basicsr.prepare.common import bicubic_downsample
from wbsr_cli.prepare import benchmarks as prepare_benchmarks


def write_set(folder: Path) -> None:
    """Two colour photos (odd sizes) and one grayscale photo, as a benchmark HR folder."""
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / 'astronaut.png'), cv2.cvtColor(photo_rgb('astronaut')[:101, :87], cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(folder / 'coffee.png'), cv2.cvtColor(photo_rgb('coffee')[:66, :130], cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(folder / 'camera.png'), skimage_data.camera()[:60, :75])


def run(*argv: str) -> int:
    return prepare_benchmarks(['--workers', '2', *argv])


def test_standard_set_layout_modcrop_bicubic_and_grayscale(tmp_path, capsys):
    write_set(tmp_path / 'raw' / 'Set5')
    assert run('--input', str(tmp_path / 'raw'), '--output', str(tmp_path / 'out'), '--lmdb') == 0
    assert 'camera.png: grayscale, converted to 3 channels' in capsys.readouterr().out
    out = tmp_path / 'out' / 'Set5'
    assert sorted(os.listdir(out)) == ['GTmod12', 'GTmod12.lmdb', 'LRbicx2', 'LRbicx2.lmdb', 'LRbicx3',
                                       'LRbicx3.lmdb', 'LRbicx4', 'LRbicx4.lmdb', 'wbsr_prep.json']
    gt = cv2.imread(str(out / 'GTmod12' / 'astronaut.png'))
    source = cv2.imread(str(tmp_path / 'raw' / 'Set5' / 'astronaut.png'))
    assert gt.shape == (96, 84, 3) and np.array_equal(gt, source[:96, :84])
    for scale in (2, 3, 4):
        lr = cv2.imread(str(out / f'LRbicx{scale}' / 'astronaut.png'))
        assert np.array_equal(lr, bicubic_downsample(gt, scale))
    gray = cv2.imread(str(out / 'GTmod12' / 'camera.png'), cv2.IMREAD_UNCHANGED)
    assert gray.shape == (60, 72, 3)
    dataset = build_dataset(dict(name='Set5', type='PairedImageDataset', phase='val', scale=4,
                                 dataroot_gt=str(out / 'GTmod12.lmdb'), dataroot_lq=str(out / 'LRbicx4.lmdb'),
                                 io_backend=dict(type='lmdb')))
    assert len(dataset) == 3
    item = dataset[0]
    assert item['gt'].shape[1:] == (96, 84) and item['lq'].shape[1:] == (24, 21)

    # A re-run skips the complete set.
    assert run('--input', str(tmp_path / 'raw'), '--output', str(tmp_path / 'out'), '--lmdb') == 0
    assert 'complete, skipped' in capsys.readouterr().out


def test_div8k_split_follows_classsr(tmp_path):
    div8k = tmp_path / 'DIV8K'
    div8k.mkdir()
    photo = cv2.cvtColor(photo_rgb('chelsea'), cv2.COLOR_RGB2BGR)
    for index in range(1201, 1501):
        top = (index * 7) % 200
        cv2.imwrite(str(div8k / f'{index}.png'), photo[top:top + 96, :96])
    assert run('--div8k', str(div8k), '--output', str(tmp_path / 'out'), '--scales', '4') == 0
    for name, first, factor in (('Test2K', 1201, 4), ('Test4K', 1301, 2), ('Test8K', 1401, 1)):
        files = sorted(os.listdir(tmp_path / 'out' / name / 'GTmod12'))
        assert len(files) == 100 and files[0] == f'{first}.png'
        source = cv2.imread(str(div8k / f'{first}.png'))
        expected = source if factor == 1 else bicubic_downsample(source, factor)
        expected = expected[:expected.shape[0] // 12 * 12, :expected.shape[1] // 12 * 12]
        assert np.array_equal(cv2.imread(str(tmp_path / 'out' / name / 'GTmod12' / files[0])), expected)


def test_missing_div8k_images_and_corrupt_images_are_refused(tmp_path, capsys):
    div8k = tmp_path / 'DIV8K'
    div8k.mkdir()
    cv2.imwrite(str(div8k / '1201.png'), np.zeros((48, 48, 3), np.uint8))
    assert run('--div8k', str(div8k), '--output', str(tmp_path / 'out')) == 1
    assert 'Test2K needs DIV8K images 1201-1300; missing [1202' in capsys.readouterr().err

    write_set(tmp_path / 'raw' / 'Set14')
    corrupt = tmp_path / 'raw' / 'Set14' / 'coffee.png'
    corrupt.write_bytes(b'not a png')
    assert run('--input', str(tmp_path / 'raw'), '--output', str(tmp_path / 'out2')) == 1
    assert f'{corrupt}: cannot be read' in capsys.readouterr().err
    assert os.listdir(tmp_path / 'out2') == []
    assert run('--input', str(tmp_path / 'raw'), '--output', str(tmp_path / 'out2'), '--skip-bad') == 0
    assert 'skipped 1 bad input(s)' in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path / 'out2' / 'Set14' / 'GTmod12')) == ['astronaut.png', 'camera.png']


def test_no_sets_found_is_a_clear_error_and_any_folder_of_images_is_a_set(tmp_path, capsys):
    (tmp_path / 'raw' / 'Holiday').mkdir(parents=True)
    assert run('--input', str(tmp_path / 'raw'), '--output', str(tmp_path / 'out')) == 1
    assert 'No benchmark sets found' in capsys.readouterr().err
    (tmp_path / 'raw' / 'Holiday').rmdir()
    write_set(tmp_path / 'raw' / 'Holiday')
    write_set(tmp_path / 'raw' / '.cache')
    (tmp_path / 'raw' / 'empty').mkdir()
    assert run('--input', str(tmp_path / 'raw'), '--output', str(tmp_path / 'out'), '--scales', '4') == 0
    assert os.listdir(tmp_path / 'out') == ['Holiday']
    assert sorted(os.listdir(tmp_path / 'out' / 'Holiday' / 'LRbicx4')) == ['astronaut.png', 'camera.png', 'coffee.png']


def test_two_images_with_one_name_are_refused(tmp_path, capsys):
    """coffee.png and coffee.jpg would both become GTmod12/coffee.png: one would replace the other."""
    write_set(tmp_path / 'raw' / 'Set5')
    twin = tmp_path / 'raw' / 'Set5' / 'coffee.jpg'
    cv2.imwrite(str(twin), np.zeros((60, 60, 3), np.uint8))
    assert run('--input', str(tmp_path / 'raw'), '--output', str(tmp_path / 'out')) == 1
    assert f"{tmp_path / 'raw' / 'Set5' / 'coffee.jpg'} and {tmp_path / 'raw' / 'Set5' / 'coffee.png'} have the same " \
        "name 'coffee'" in capsys.readouterr().err
    assert not (tmp_path / 'out' / 'Set5').exists()


def test_a_set_made_from_other_images_is_refused_and_a_truncated_jpeg_is_named(tmp_path, capsys):
    raw = tmp_path / 'raw'
    write_set(raw / 'Set5')
    assert run('--input', str(raw), '--output', str(tmp_path / 'out'), '--scales', '4') == 0
    cv2.imwrite(str(raw / 'Set5' / 'rocket.png'), cv2.cvtColor(photo_rgb('rocket')[:60, :60], cv2.COLOR_RGB2BGR))
    capsys.readouterr()
    assert run('--input', str(raw), '--output', str(tmp_path / 'out'), '--scales', '4') == 1
    assert f'{tmp_path / "out" / "Set5"}: was made from other input images' in capsys.readouterr().err
    ok, jpeg = cv2.imencode('.jpg', cv2.cvtColor(photo_rgb('chelsea'), cv2.COLOR_RGB2BGR))
    (raw / 'Set5' / 'cut.jpg').write_bytes(jpeg.tobytes()[:len(jpeg) // 2])
    assert run('--input', str(raw), '--output', str(tmp_path / 'again'), '--scales', '4') == 1
    assert f'{raw / "Set5" / "cut.jpg"}: a truncated or damaged image' in capsys.readouterr().err
    assert run('--input', str(raw), '--output', str(tmp_path / 'again'), '--scales', '4', '--skip-bad') == 0
    assert sorted(os.listdir(tmp_path / 'again' / 'Set5' / 'GTmod12')) == ['astronaut.png', 'camera.png',
                                                                          'coffee.png', 'rocket.png']
