"""scripts/reproduce.py end to end on tiny settings: Table 2's lines, a second invocation that
skips finished work, and a run killed mid-way that resumes to the same table."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, SCALE

TINY = ['--preset', 'cpu', '--seeds', '1', '--scale', str(SCALE), '--iters', '2', '--gt-size', '48', '--batch', '4',
        '--num-feat', '16', '--num-block', '2', '--widths', '8', '16', '--depths', '1', '2', '--workers', '0']
LINES = ['SRResNet', '+HES', '+Lbd', 'WBSR', 'WBSR (Pareto ladder)', 'WBSR-dagger']


def command(train, bench, out):
    return [sys.executable, str(REPO / 'scripts' / 'reproduce.py'), '--train', str(train), '--bench', str(bench),
            '--out', str(out), *TINY]


def test_reproduce_table2_skips_finished_work_and_resumes_a_killed_run(tmp_path, mini_div2k_x2, bench):
    out = tmp_path / 'a'
    first = subprocess.run(command(mini_div2k_x2, bench, out), capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    table = json.loads((out / 'reproduce' / 'table2_cpu.json').read_text())
    assert list(table['table']) == LINES and table['sets'] == ['Set5', 'Set14']
    for line, cells in table['table'].items():
        for dataset in ('Set5', 'Set14'):
            assert 10 < cells[dataset]['psnr']['mean'] < 50 and len(cells[dataset]['psnr']['seeds']) == 1
    assert table['table']['WBSR-dagger']['Set5']['flops_percent'] == pytest.approx(100)
    assert table['table']['WBSR']['Set14']['flops_percent'] < 100
    markdown = (out / 'reproduce' / 'table2_cpu.md').read_text()
    assert all(f'| {line} |' in markdown for line in LINES)

    logs = {path: path.stat().st_size for path in (out / 'study').glob('*.log')}
    second = subprocess.run(command(mini_div2k_x2, bench, out), capture_output=True, text=True, timeout=900)
    assert second.returncode == 0 and second.stdout.count('[reproduce]') == 4 + 1
    assert {path: path.stat().st_size for path in (out / 'study').glob('*.log')} == logs  # nothing ran again
    assert json.loads((out / 'reproduce' / 'table2_cpu.json').read_text()) == table

    changed = subprocess.run(command(mini_div2k_x2, bench, out)[:-2] + ['--iters', '3'], capture_output=True,
                             text=True, timeout=900)
    assert changed.returncode != 0 and 'was started with other settings' in changed.stderr

    killed = tmp_path / 'b'
    process = subprocess.Popen(command(mini_div2k_x2, bench, killed), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while not list((killed / 'reproduce_cpu').glob('*.json')) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # into the next configuration's run
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / 'reproduce' / 'table2_cpu.json').exists()
    resumed = subprocess.run(command(mini_div2k_x2, bench, killed), capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    again = json.loads((killed / 'reproduce' / 'table2_cpu.json').read_text())
    assert again['table'] == table['table']
