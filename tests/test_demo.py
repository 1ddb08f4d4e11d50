"""The README's first command, shortened: scripts/demo.py end to end with two training iterations."""
import json
import re
import subprocess
import sys

from conftest import REPO


def test_demo_end_to_end(tmp_path):
    command = [sys.executable, str(REPO / 'scripts' / 'demo.py'), '--root', str(tmp_path), '--iters', '2']
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    table = out[out.index('[demo] heldout_photos'):]
    rows = re.findall(r'^(\S+)\s+(\d+\.\d{4})\s+(\d\.\d{4})', table, flags=re.MULTILINE)
    labels = [label for label, _, _ in rows]
    assert labels[:2] == ['target_0.65', 'ceil'] and len([r for r in labels if r.startswith('fixed_')]) == 9
    assert labels[-1] == 'bicubic'
    bicubic_psnr = float(rows[-1][1])
    assert 25 < bicubic_psnr < 40  # real photos: a plausible x2 bicubic PSNR
    saved = json.loads((tmp_path / 'results' / 'WBSR_demo_x2_test' / 'wbsr_table_heldout_photos.json').read_text())
    assert [row['row'] for row in saved['rows']] == labels[:-1]
    maps = list((tmp_path / 'results' / 'WBSR_demo_x2_test' / 'visualization' / 'heldout_photos').glob('*_subnets.png'))
    assert len(maps) == 4  # two photos x two routed rows
    assert (tmp_path / 'experiments' / 'WBSR_demo_x2' / 'models' / 'net_g_latest.pth').is_file()
