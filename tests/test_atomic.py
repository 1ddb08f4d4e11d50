"""Outputs are complete or absent: the one helper every writer uses."""
import json
import os
import subprocess
import sys

import pytest

from wbsr_basicsr.utils.atomic import INCOMPLETE_PREFIX, remove_incomplete, write_atomically, write_json


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


def test_leftovers_of_killed_runs_are_removed_but_not_those_of_running_ones(tmp_path):
    finished = subprocess.Popen([sys.executable, '-c', 'pass'])
    finished.wait()  # its id names no running process now
    running = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
    try:
        (tmp_path / f'{INCOMPLETE_PREFIX}{finished.pid}_net_g_4.pth').write_bytes(b'partial')
        (tmp_path / f'{INCOMPLETE_PREFIX}{finished.pid}_Set5').mkdir()
        (tmp_path / f'{INCOMPLETE_PREFIX}{running.pid}_photo.png').write_bytes(b'being written')
        (tmp_path / 'net_g_2.pth').write_bytes(b'complete')
        assert remove_incomplete(str(tmp_path)) == [f'{INCOMPLETE_PREFIX}{finished.pid}_Set5',
                                                    f'{INCOMPLETE_PREFIX}{finished.pid}_net_g_4.pth']
        assert sorted(os.listdir(tmp_path)) == [f'{INCOMPLETE_PREFIX}{running.pid}_photo.png', 'net_g_2.pth']
    finally:
        running.kill()
        running.wait()
