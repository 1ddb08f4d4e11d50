"""Outputs are complete or absent: the one helper every writer uses."""
import json
import os

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


def test_leftovers_of_killed_runs_are_removed(tmp_path):
    (tmp_path / f'{INCOMPLETE_PREFIX}123_net_g_4.pth').write_bytes(b'partial')
    (tmp_path / f'{INCOMPLETE_PREFIX}123_Set5').mkdir()
    (tmp_path / 'net_g_2.pth').write_bytes(b'complete')
    assert remove_incomplete(str(tmp_path)) == [f'{INCOMPLETE_PREFIX}123_Set5', f'{INCOMPLETE_PREFIX}123_net_g_4.pth']
    assert os.listdir(tmp_path) == ['net_g_2.pth']
