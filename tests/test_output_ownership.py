"""The inference command never takes a user's file for its own, one run per output folder, and every option
either applies or is an error (docs/inference.md, "Inputs and outputs"): the ledger is the only proof that
a file is the command's; leftovers go only when the ledger recorded them as started, and only as files."""
import json
import os
import subprocess
import sys
import textwrap

import cv2
import pytest

from conftest import REPO, load_script, reset_basicsr_logger
from test_nothing_lost import dead_pid, photo_bgr
from wbsr_basicsr.utils.atomic import is_partial
from wbsr_cli.jobs.output_folder import LEDGER, LOCK

INFERENCE = REPO / 'inference' / 'inference_wbsr.py'


@pytest.fixture
def command():
    reset_basicsr_logger()
    yield load_script('inference_wbsr', INFERENCE).main
    reset_basicsr_logger()


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / 'photos'
    folder.mkdir()
    cv2.imwrite(str(folder / 'a.png'), photo_bgr())
    return folder


def outputs_listed(folder):
    """The outputs the ledger of ``folder`` lists, in its order (every line must be a name; the temporary
    names recorded before each write are left out)."""
    lines = (folder / LEDGER).read_text(encoding='utf-8').splitlines()
    assert all(line and '/' not in line for line in lines), lines
    return [line for line in lines if not is_partial(line)]


def test_a_users_file_named_like_an_output_is_never_replaced(tmp_path, photos, command, trained_wbsr, capsys):
    mine = cv2.imencode('.png', photo_bgr(name='coffee'))[1].tobytes()
    (photos / 'a_wbsr.png').write_bytes(mine)  # the user's own photo; no ledger: not ours
    base = ['--model', str(trained_wbsr), '--full']
    assert command(['-i', str(photos), '-o', str(photos)] + base) == 2
    assert f'{photos / "a_wbsr.png"}, the output of {photos / "a.png"}, would replace the input' in \
        capsys.readouterr().err
    # into another folder that holds a file of that name the ledger does not list
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'a_wbsr.png').write_bytes(mine)
    assert command(['-i', str(photos / 'a.png'), '-o', str(out)] + base) == 2
    assert f'would replace a file this command did not write (the ledger {out / LEDGER} does not list it)' in \
        capsys.readouterr().err
    assert (photos / 'a_wbsr.png').read_bytes() == mine and (out / 'a_wbsr.png').read_bytes() == mine
    assert sorted(os.listdir(out)) == ['a_wbsr.png']


def test_leftovers_go_only_when_the_ledger_recorded_them_and_only_as_files(tmp_path, photos, command, trained_wbsr,
                                                                         capsys):
    out = tmp_path / 'out'
    out.mkdir()
    pid = dead_pid()
    recorded, unrecorded = f'.b_wbsr.wbsr-partial-{pid}.png', f'.c_wbsr.wbsr-partial-{pid}.png'
    folder = out / f'.z.wbsr-partial-{pid}'
    folder.mkdir()
    (folder / 'keep.txt').write_text('mine')
    for name in (recorded, unrecorded):
        (out / name).write_bytes(b'half')
    (out / LEDGER).write_text(f'{recorded}\n{folder.name}\n')
    assert command(['-i', str(photos), '-o', str(out), '--model', str(trained_wbsr), '--full']) == 0
    error = capsys.readouterr().err
    assert f'removed {recorded}' in error and not (out / recorded).exists()
    assert (out / unrecorded).read_bytes() == b'half' and (folder / 'keep.txt').read_text() == 'mine'
    assert outputs_listed(out) == ['a_wbsr.png']  # the leftovers' lines dropped, the output listed


def test_a_damaged_ledger_is_reported_and_rebuilt_never_appended_to(tmp_path, photos, command, trained_wbsr,
                                                                    capsys):
    base = ['-i', str(photos), '-o', str(photos), '--model', str(trained_wbsr), '--full']
    assert command(base + ['--suffix', 'x']) == 0
    capsys.readouterr()
    ledger = photos / LEDGER
    ledger.write_bytes(ledger.read_bytes() + b'\xff\xfe garbage\x00\nsub/dir.png\n\x89PNG')
    assert command(base + ['--suffix', 'y']) == 0
    printed = capsys.readouterr()
    assert f'{ledger}: damaged (3 line(s) that name no file); rebuilt with the 1 output name(s) it still held' in \
        printed.err
    assert 'a_x.png: an output of an earlier run' in printed.out  # not upscaled again into a_x_y.png
    assert sorted(os.listdir(photos)) == [LEDGER, 'a.png', 'a_x.png', 'a_y.png']
    assert outputs_listed(photos) == ['a_x.png', 'a_y.png']


def test_an_input_named_explicitly_is_upscaled_even_if_it_is_an_earlier_output(tmp_path, photos, command,
                                                                             trained_wbsr, capsys):
    out = tmp_path / 'results'
    base = ['-o', str(out), '--model', str(trained_wbsr), '--full']
    assert command(['-i', str(photos / 'a.png')] + base) == 0
    assert command(['-i', str(out / 'a_wbsr.png')] + base) == 0
    assert cv2.imread(str(out / 'a_wbsr_wbsr.png')).shape == (240, 320, 3) and '1 images' in capsys.readouterr().out


HOLDER = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from wbsr_cli.jobs.output_folder import OutputFolder
    OutputFolder.claim(Path(sys.argv[1]))
    print('held', flush=True)
    time.sleep(60)
''')


def test_one_run_at_a_time_per_output_folder_and_a_dead_runs_lock_taken_over(tmp_path, photos, command,
                                                                            trained_wbsr, capsys):
    out = tmp_path / 'out'
    base = ['-i', str(photos), '-o', str(out), '--model', str(trained_wbsr), '--full']
    holder = subprocess.Popen([sys.executable, '-c', HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        assert command(base) == 2
        error = capsys.readouterr().err
        assert f'-o {out}: another run of the command (pid {holder.pid}) is writing there' in error
        assert not (out / 'a_wbsr.png').exists()
    finally:
        holder.kill()
        holder.wait()
    assert (out / LOCK).read_text() == str(holder.pid)  # killed: its lock file stays, its lock does not
    assert command(base) == 0 and (out / 'a_wbsr.png').is_file()
    assert sorted(os.listdir(out)) == [LEDGER, 'a_wbsr.png']  # the lock file goes with the run that held it


def test_entries_of_a_folder_that_are_not_read_are_listed(tmp_path, photos, command, trained_wbsr, capsys):
    (photos / 'sub').mkdir()
    cv2.imwrite(str(photos / 'sub' / 'b.png'), photo_bgr())
    (photos / 'gone.png').symlink_to(tmp_path / 'missing.png')
    assert command(['-i', str(photos), '-o', str(tmp_path / 'out'), '--model', str(trained_wbsr), '--full']) == 0
    error = capsys.readouterr().err
    assert f'2 entries of {photos} not read:' in error
    assert f'{photos / "gone.png"}: a link to {tmp_path / "missing.png"}, which does not exist, not read' in error
    assert f'{photos / "sub"}: a folder (folders are not searched), not read' in error


def test_pre_pad_is_counted_in_the_printed_flops(tmp_path, command, trained_wbsr, capsys):
    photo = tmp_path / 'small.png'
    cv2.imwrite(str(photo), photo_bgr(slice(0, 60), slice(0, 90)))
    base = ['-i', str(photo), '-o', str(tmp_path / 'out'), '--model', str(trained_wbsr), '--full']
    assert command(base) == 0
    assert '100.0% of the full FLOPs' in capsys.readouterr().out
    assert command(base + ['--pre_pad', '30', '--suffix', 'padded']) == 0
    printed = capsys.readouterr().out
    padded = 100 * (90 + 30) * (60 + 30) / (90 * 60)  # the network ran on the padded image
    assert f'{padded:.1f}% of the full FLOPs' in printed and 'small.png: 90x60 -> 180x120' in printed


@pytest.mark.parametrize('extra, message', [
    (['--full', '--scope', 'folder'], '--scope applies to --target, --target-time; --full does not use it'),
    (['--save-map'], '--save-map applies to --target, --target-time, --ceil, --alpha, --row; --full does not'),
    (['--subnet', '16,2', '--flops', 'patch'], '--flops applies to --target, --row; --subnet does not use it'),
    (['--full', '--ladder', 'full'], '--ladder applies to --target, --ceil, --alpha, --row; --full does not'),
    (['--target-time', '0.5', '--ladder', 'full'], '--ladder applies to'),
    (['--row', '{mode: whole, subnet: full}', '--save-map'], '--save-map writes the subnets chosen per patch; a '
                                                             'whole row runs one subnet'),
    (['--row', '{mode: ceil}', '--flops', 'patch'], '--flops is what a FLOPs target counts; the row'),
    (['--row', '[1, 2'], '--row [1, 2, line 2: not valid YAML'),
    (['--row', '!!python/object/apply:os.getcwd []'], 'the tag !!python/object/apply:os.getcwd is not allowed')])
def test_every_option_applies_or_is_a_one_line_error(tmp_path, photos, command, trained_wbsr, capsys, extra, message):
    out = tmp_path / 'out'
    assert command(['-i', str(photos), '-o', str(out), '--model', str(trained_wbsr)] + extra) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and message in error, error
    assert not out.exists() or os.listdir(out) == []


def test_a_damaged_models_index_is_one_line_naming_it(tmp_path, photos, command, monkeypatch, capsys):
    import wbsr_basicsr.zoo as zoo
    index = tmp_path / 'models.json'
    monkeypatch.setattr(zoo, 'INDEX', index)
    for text in ('{"name": [1, 2', json.dumps([{'name': 'x', 'scale': 4}])):
        index.write_text(text)
        for argv in (['--list-models'], ['-i', str(photos), '-o', str(tmp_path / 'out'), '-n', 'x']):
            assert command(argv) == 2
            error = capsys.readouterr().err
            assert error.startswith(f'inference_wbsr.py: {index}: damaged (') and len(error.splitlines()) == 1, error


def test_commands_never_write_into_the_installed_package(tmp_path, trained_wbsr, capsys):
    from wbsr_basicsr.zoo import DEFAULT_MODEL, PACKAGE, WEIGHTS
    calibrate = load_script('calibrate_routing', REPO / 'scripts' / 'calibrate_routing.py')
    export = load_script('export_subnet', REPO / 'scripts' / 'export_subnet.py')
    before = sorted(os.listdir(WEIGHTS))
    shipped = WEIGHTS / f'{DEFAULT_MODEL}.pth'
    cases = [(calibrate, ['--model', str(trained_wbsr), '--time-only', '--output', str(WEIGHTS / 'mine.pth')],
              f'--output would write {WEIGHTS / "mine.pth"}, inside the installed package ({PACKAGE})'),
             (calibrate, ['--model', str(shipped), '--time-only'], f'--model without --output would write {shipped}'),
             (calibrate, ['-n', DEFAULT_MODEL, '--time-only'], f'-n {DEFAULT_MODEL} without --output would write'),
             (export, ['--model', str(trained_wbsr), '--subnet', 'full', '--output', str(PACKAGE / 'plain.pth')],
              f'--output would write {PACKAGE / "plain.pth"}, inside the installed package')]
    for script, argv, message in cases:
        assert script.main(argv) == 2
        assert message in capsys.readouterr().err
    assert sorted(os.listdir(WEIGHTS)) == before and not (PACKAGE / 'plain.pth').exists()
