"""Nothing lost, nothing silently wrong: the inference command's outputs planned before it computes,
damaged and unusual inputs, option typos at every level of an option file, and one-line errors
where a traceback used to be (docs/inference.md, "Inputs and outputs"; docs/training.md, "Option
files")."""
import copy
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

import basicsr.test
import basicsr.train
from conftest import (NETWORK, PSNR, REPO, SCALE, load_script, paired_dataset, photo_rgb, reset_basicsr_logger,
                      wbsr_train_options, write_paired_folder)
from wbsr_basicsr.option_schema import check_options
from wbsr_cli.jobs.output_folder import LEDGER

INFERENCE = REPO / 'inference' / 'inference_wbsr.py'


def photo_bgr(rows=slice(0, 60), cols=slice(0, 80), name='chelsea') -> np.ndarray:
    return cv2.cvtColor(photo_rgb(name)[rows, cols], cv2.COLOR_RGB2BGR)


@pytest.fixture
def command():
    """The inference command's ``main``; BasicSR's logger let go of streams earlier tests captured."""
    reset_basicsr_logger()
    yield load_script('inference_wbsr', INFERENCE).main
    reset_basicsr_logger()


def test_outputs_that_would_replace_inputs_or_each_other_are_refused_before_anything_runs(tmp_path, command,
                                                                                        trained_wbsr, capsys):
    photos = tmp_path / 'photos'
    photos.mkdir()
    cv2.imwrite(str(photos / 'photo.png'), photo_bgr())
    cv2.imwrite(str(photos / 'photo.jpg'), photo_bgr(name='coffee'))
    original = (photos / 'photo.png').read_bytes()
    base = ['-i', str(photos), '--model', str(trained_wbsr), '--full']
    # the output of photo.jpg would be photo.png, the input
    assert command(base + ['-o', str(photos), '--suffix', '', '--ext', 'png']) == 2
    assert f'{photos / "photo.png"}, the output of {photos / "photo.jpg"}, would replace the input' in \
        capsys.readouterr().err
    assert (photos / 'photo.png').read_bytes() == original and sorted(os.listdir(photos)) == ['photo.jpg', 'photo.png']
    # two inputs, one output
    out = tmp_path / 'out'
    assert command(base + ['-o', str(out), '--ext', 'png']) == 2
    assert f'{photos / "photo.jpg"} and {photos / "photo.png"} would both be written to {out / "photo_wbsr.png"}' \
        in capsys.readouterr().err
    assert not out.exists() or os.listdir(out) == []


def dead_pid() -> int:
    """The pid of a process that has ended."""
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    return dead.pid


def test_a_second_run_into_the_input_folder_does_not_read_its_own_outputs_or_leftovers(tmp_path, command,
                                                                                      trained_wbsr, capsys):
    photos = tmp_path / 'photos'
    photos.mkdir()
    cv2.imwrite(str(photos / 'a.png'), photo_bgr())
    leftover = photos / f'.a_wbsr.wbsr-partial-{dead_pid()}.png'  # a write killed by SIGKILL, as its ledger says
    leftover.write_bytes(b'')
    (photos / LEDGER).write_text(f'{leftover.name}\n')
    args = ['-i', str(photos), '-o', str(photos), '--model', str(trained_wbsr), '--full']
    assert command(args) == 0
    assert f'removed {leftover.name}' in capsys.readouterr().err and not leftover.exists()
    assert command(args) == 0
    printed = capsys.readouterr().out
    assert 'a_wbsr.png: an output of an earlier run of this command (its ledger lists it); not an input' in printed
    assert sorted(os.listdir(photos)) == [LEDGER, 'a.png', 'a_wbsr.png'] and '1 images' in printed
    assert command(args + ['--suffix', 'x2']) == 0  # another suffix: the earlier output is still not an input
    printed = capsys.readouterr().out
    assert 'a_wbsr.png: an output of an earlier run of this command' in printed and '1 images' in printed
    assert sorted(os.listdir(photos)) == [LEDGER, 'a.png', 'a_wbsr.png', 'a_x2.png']


def test_damaged_and_unusual_inputs(tmp_path, command, trained_wbsr, capsys):
    photos = tmp_path / 'photos'
    photos.mkdir()
    ok, jpeg = cv2.imencode('.jpg', photo_bgr())
    (photos / 'truncated.jpg').write_bytes(jpeg.tobytes()[:len(jpeg) // 2])
    upright = photo_rgb('chelsea')[:40, :70]
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display after 90 degrees clockwise
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1))).save(photos / 'rotated.jpg', exif=exif, quality=95)
    ramp = np.tile(np.linspace(0, 255, 60, dtype=np.uint8), (40, 1))
    grey_alpha = np.dstack([photo_rgb('coffee')[:40, :60, 0], ramp])
    Image.fromarray(grey_alpha, 'LA').save(photos / 'grey_alpha.png')
    cv2.imwrite(str(photos / 'dot.png'), photo_bgr(slice(0, 1), slice(0, 1)))
    out = tmp_path / 'out'
    assert command(['-i', str(photos), '-o', str(out), '--model', str(trained_wbsr), '--target', '0.65',
                    '--ladder', 'full']) == 1
    printed = capsys.readouterr()
    assert re.search(r'skipped .*truncated.jpg: a truncated or damaged image \(image file is truncated', printed.out)
    assert not (out / 'truncated_wbsr.jpg').exists()
    rotated = cv2.imread(str(out / 'rotated_wbsr.jpg'))
    assert rotated.shape == (80, 140, 3)  # upright: 40 x 70 upscaled twice, not 70 x 40
    written = Image.open(out / 'grey_alpha_wbsr.png')
    assert written.mode == 'LA' and written.size == (120, 80)
    assert 'dot.png: 1x1 -> 2x2' in printed.out and 'over the budget: 0.65 cannot be met on this image' in printed.out
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert command(['-i', str(empty), '-o', str(out), '--model', str(trained_wbsr), '--full']) == 2
    assert f'{empty}: the folder holds no files to upscale' in capsys.readouterr().err


def test_bad_invocations_are_one_line_errors_before_the_model_loads(tmp_path, command, trained_wbsr, capsys):
    photo = tmp_path / 'photo.png'
    cv2.imwrite(str(photo), photo_bgr())
    a_file = tmp_path / 'a_file'
    a_file.write_text('not a folder')
    network = tmp_path / 'other_network.yml'
    network.write_text(yaml.safe_dump({'network_g': dict(NETWORK, num_feat=32, widths=[16, 32])}))
    malformed = tmp_path / 'malformed.yml'
    malformed.write_text('network_g: {type: [unclosed')
    base = ['-i', str(photo), '--model', str(trained_wbsr)]
    out = ['-o', str(tmp_path / 'out')]
    cases = [(['-o', str(a_file), '--full'], f'-o {a_file}: exists and is not a folder'),
             (['-o', '/proc/wbsr_out', '--full'], '-o /proc/wbsr_out: cannot write there'),
             (out + ['--full', '--max-batch', '0'], '--max-batch 0: give at least 1 patch per forward'),
             (out + ['--full', '--max-batch', '-3'], '--max-batch -3'),
             (out + ['--full', '--ext', 'xyz'], "--ext 'xyz': choose auto"),
             (out + ['--full', '--ext', ''], "--ext '': choose auto"),
             (out + ['--alpha', 'nan'], 'budget alpha must be positive and finite'),
             (out + ['--alpha', 'inf'], 'budget alpha must be positive and finite'),
             (out + ['--full', '-opt', str(network)], 'its parameters do not fit the network'),
             (out + ['--full', '-opt', str(malformed)], f'{malformed}, line 2: not valid YAML')]
    for extra, message in cases:
        assert command(base + extra) == 2, extra
        error = capsys.readouterr().err
        ours = [line for line in error.splitlines() if line.startswith('inference_wbsr.py: ')]
        assert len(ours) == 1 and message in ours[0] and 'Traceback' not in error, (extra, error)
    assert not (tmp_path / 'out').exists() or os.listdir(tmp_path / 'out') == []
    # an alpha too large to compute with (1e300 x C_t overflowed) asks for the full network everywhere
    assert command(base + out + ['--alpha', '1e300', '--ladder', 'full']) == 0
    assert 'of the full FLOPs (per patch: 100.0%)' in capsys.readouterr().out


def test_ctrl_c_is_one_line_and_leaves_only_complete_outputs(tmp_path, command, trained_wbsr, capsys, monkeypatch):
    photos = tmp_path / 'photos'
    photos.mkdir()
    for name in ('a', 'b'):
        cv2.imwrite(str(photos / f'{name}.png'), photo_bgr())
    from wbsr_basicsr.inference.upscaler import Upscaler
    upscale, calls = Upscaler.upscale, []

    def interrupted_second(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return upscale(self, *args, **kwargs)

    monkeypatch.setattr(Upscaler, 'upscale', interrupted_second)
    out = tmp_path / 'out'
    assert command(['-i', str(photos), '-o', str(out), '--model', str(trained_wbsr), '--full']) == 130
    assert 'inference_wbsr.py: interrupted; the outputs written so far are complete' in capsys.readouterr().err
    assert sorted(os.listdir(out)) == [LEDGER, 'a_wbsr.png'] and cv2.imread(str(out / 'a_wbsr.png')).shape == (120, 160, 3)


def test_export_into_a_missing_folder_is_a_one_line_error(tmp_path, trained_wbsr, capsys):
    export = load_script('export_subnet', REPO / 'scripts' / 'export_subnet.py')
    assert export.main(['--model', str(trained_wbsr), '--subnet', 'full', '--output',
                        str(tmp_path / 'missing' / 'plain.pth')]) == 2
    assert f'the folder {tmp_path / "missing"} does not exist' in capsys.readouterr().err


@pytest.mark.parametrize('section, key, value, message', [
    ('train', 'subnet_samplng', {'strategy': 'all'}, "unknown option train.subnet_samplng (did you mean "
                                                      "'subnet_sampling'?)"),
    ('train', 'ema_decy', 0.999, "unknown option train.ema_decy (did you mean 'ema_decay'?)"),
    ('val', 'rowz', [{'mode': 'ceil'}], "unknown option val.rowz (did you mean 'rows'?)"),
    ('datasets.train', 'hse', {'start_iter': 2}, "unknown option datasets.train.hse (did you mean 'hes'?)"),
    ('datasets.train.hes', 'delat', 0.5, "unknown option datasets.train.hes.delat (did you mean 'delta'?)"),
    ('network_g', 'num_feats', 16, "unknown option network_g.num_feats (did you mean 'num_feat'?) (WBSRMSRResNet "
                                   'takes depths, num_block, num_feat'),
    ('train', 'pixel_opt', {'type': 'L1Loss', 'loss_wieght': 1.0}, "unknown option train.pixel_opt.loss_wieght (did "
                                                                    "you mean 'loss_weight'?)"),
    ('train.optim_g', 'betas2', [0.9, 0.99], 'unknown option train.optim_g.betas2'),
    ('logger', 'print_frq', 1, "unknown option logger.print_frq (did you mean 'print_freq'?)"),
    ('path', 'pretrain_netwrok_g', None, "unknown option path.pretrain_netwrok_g (did you mean "
                                         "'pretrain_network_g'?)")])
def test_option_typos_at_every_level_are_errors_naming_the_file(tmp_path, mini_div2k_x2, tiny_pairs, run_pipeline,
                                                                monkeypatch, section, key, value, message):
    monkeypatch.chdir(tmp_path)
    options = copy.deepcopy(wbsr_train_options(mini_div2k_x2, tiny_pairs, 1, name='typo'))
    block = options
    for part in section.split('.'):
        block = block[part]
    block[key] = value
    with pytest.raises(ValueError, match=re.escape(f'typo.yml: {message}')):
        run_pipeline(basicsr.train.train_pipeline, tmp_path, options)
    assert not (tmp_path / 'experiments' / 'typo').exists()  # refused before anything was made
    options['extra_keys'] = [f'{section}.{key}']  # another plugin's key: let through
    check_options(dict(options, datasets={}), 'typo.yml')


def test_data_that_cannot_work_is_refused_before_training_or_testing(tmp_path, mini_div2k_x2, tiny_pairs,
                                                                      trained_wbsr, run_pipeline, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = wbsr_train_options(mini_div2k_x2, tiny_pairs, 1, name='bad_data')
    train = options['datasets']['train']
    wrong = dict(options, datasets=dict(options['datasets'], train=dict(train, dataroot_gt=str(mini_div2k_x2))))
    with pytest.raises(ValueError, match=f'datasets.train.dataroot_gt: {mini_div2k_x2} is not an LMDB made by the '
                                         'preparation scripts'):
        run_pipeline(basicsr.train.train_pipeline, tmp_path, wrong)
    same = dict(options, datasets=dict(options['datasets'], train=dict(train, dataroot_lq=train['dataroot_gt'])))
    with pytest.raises(ValueError, match='datasets.train: dataroot_lq is dataroot_gt'):
        run_pipeline(basicsr.train.train_pipeline, tmp_path, same)
    short = write_paired_folder(tmp_path / 'short', SCALE, 96)
    (short[1] / 'coffee.png').unlink()
    test = dict(name='short_set', model_type='WBSRModel', scale=SCALE, num_gpu=0,
                datasets=dict(test_1=paired_dataset('short', *short)), network_g=NETWORK,
                path=dict(pretrain_network_g=str(trained_wbsr), strict_load_g=True),
                val=dict(rows=[dict(mode='fixed', subnet='full')], metrics=dict(psnr=PSNR)))
    with pytest.raises(ValueError, match=r'datasets.test_1: 1 GT image\(s\) of .* have no LR image in .* '
                                         r'\(coffee.png\)'):
        run_pipeline(basicsr.test.test_pipeline, tmp_path, test)
    x4 = dict(test, name='x4_on_x2', datasets=dict(test_1=paired_dataset('tiny', *tiny_pairs)),
              network_g=dict(NETWORK, upscale=4))
    with pytest.raises(ValueError, match='network_g.upscale is 4 but scale is 2'):
        run_pipeline(basicsr.test.test_pipeline, tmp_path, x4)


def test_train_and_test_scripts_print_one_line(tmp_path, tiny_pairs, trained_wbsr):
    options = dict(name='script_typo', model_type='WBSRModel', scale=SCALE, num_gpu=0,
                   datasets=dict(test_1=paired_dataset('tiny', *tiny_pairs)), network_g=NETWORK,
                   path=dict(pretrain_network_g=str(trained_wbsr)),
                   val=dict(rowz=[dict(mode='ceil')], metrics=dict(psnr=PSNR)))
    option_file = tmp_path / 'script_typo.yml'
    option_file.write_text(yaml.safe_dump(options))
    result = subprocess.run([sys.executable, str(REPO / 'wbsr_basicsr' / 'test.py'), '-opt', str(option_file)],
                            capture_output=True, text=True, env=dict(os.environ, WBSR_ROOT=str(tmp_path)), timeout=300)
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert f"test.py: {option_file}: unknown option val.rowz (did you mean 'rows'?)" in result.stderr
