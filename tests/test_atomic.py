"""Outputs are complete or absent: the one helper every writer uses."""
import json
import os
import subprocess
import sys

import pytest

from wbsr_basicsr.utils.atomic import partial_path, remove_partial, write_atomically, write_json


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    final = tmp_path / 'table.json'

    def write_half(tmp_path: str) -> None:
        with open(tmp_path, 'w') as handle:
            handle.write('{"rows": [')
        raise KeyboardInterrupt  # a kill in the middle of writing

    with pytest.raises(KeyboardInterrupt):
        write_atomically(str(final), write_half)
    assert os.listdir(tmp_path) == []


def test_a_complete_write_replaces_the_old_file(tmp_path):
    final = tmp_path / 'table.json'
    final.write_text('old')
    write_json(str(final), {'rows': [1, 2]})
    assert json.loads(final.read_text()) == {'rows': [1, 2]} and os.listdir(tmp_path) == ['table.json']


def partial(pid: int, name: str) -> str:
    stem, ext = os.path.splitext(name)
    return f'.{stem}.wbsr-partial-{pid}{ext}'


def test_leftovers_of_killed_runs_are_removed_but_not_those_of_running_ones(tmp_path):
    finished = subprocess.Popen([sys.executable, '-c', 'pass'])
    finished.wait()  # its id names no running process now
    running = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
    try:
        (tmp_path / partial(finished.pid, 'net_g_4.pth')).write_bytes(b'partial')
        (tmp_path / partial(finished.pid, 'Set5')).mkdir()
        (tmp_path / partial(running.pid, 'photo.png')).write_bytes(b'being written')
        (tmp_path / 'net_g_2.pth').write_bytes(b'complete')
        assert remove_partial(str(tmp_path)) == [partial(finished.pid, 'Set5'), partial(finished.pid, 'net_g_4.pth')]
        assert sorted(os.listdir(tmp_path)) == [partial(running.pid, 'photo.png'), 'net_g_2.pth']
    finally:
        running.kill()
        running.wait()


def test_a_users_files_are_never_taken_for_leftovers(tmp_path):
    """Names a user may pick, even ones like the project's old temporary names, survive."""
    finished = subprocess.Popen([sys.executable, '-c', 'pass'])
    finished.wait()
    users = ['_incomplete_scan.png', f'_incomplete_{finished.pid}_photo.png', '.photo.wbsr-partial-.png',
             '.photo.wbsr-partial-x1.png', f'photo.wbsr-partial-{finished.pid}.png']
    for name in users:
        (tmp_path / name).write_bytes(b'mine')
    (tmp_path / '_incomplete_album').mkdir()
    (tmp_path / '_incomplete_album' / 'a.png').write_bytes(b'mine')
    assert remove_partial(str(tmp_path)) == []
    assert sorted(os.listdir(tmp_path)) == sorted(users + ['_incomplete_album'])
    assert (tmp_path / '_incomplete_album' / 'a.png').read_bytes() == b'mine'


def test_written_files_get_the_umask_permissions(tmp_path):
    """A writer that creates its file private (as safetensors does) still yields a normal file."""
    final = tmp_path / 'subnet.safetensors'

    def write_private(tmp: str) -> None:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600))

    mask = os.umask(0o022)
    try:
        write_atomically(str(final), write_private)
    finally:
        os.umask(mask)
    assert final.stat().st_mode & 0o777 == 0o644
    assert partial_path(str(final)) == str(tmp_path / f'.subnet.wbsr-partial-{os.getpid()}.safetensors')
