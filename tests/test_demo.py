"""The README's first command, shortened: scripts/demo.py end to end with two training iterations."""
import json
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO


def test_demo_end_to_end(tmp_path):
    command = [sys.executable, str(REPO / 'scripts' / 'demo.py'), '--root', str(tmp_path), '--iters', '2']
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    table = out[out.index('[demo] heldout_photos'):]
    rows = re.findall(r'^(\S+)\s+(\d+\.\d{4})\s+(\d\.\d{4})', table, flags=re.MULTILINE)
    labels = [label for label, _, _ in rows]
    routed = ['target_0.65_dataset_pareto', 'target_0.65_dataset', 'arm_0.65_dataset', 'classifier_0.65_dataset',
              'classifier', 'oracle_0.65_dataset', 'ceil_pareto']
    assert labels[:7] == routed and len([r for r in labels if r.startswith('fixed_')]) == 9
    assert labels[-1] == 'bicubic'
    bicubic_psnr = float(rows[-1][1])
    assert 25 < bicubic_psnr < 40  # real photos: a plausible x2 bicubic PSNR
    saved = json.loads((tmp_path / 'results' / 'WBSR_demo_x2_test' / 'wbsr_table_heldout_photos.json').read_text())
    assert [row['row'] for row in saved['rows']] == labels[:-1]
    # A routed row's FLOPs are its usage-weighted mix of the fixed rows' FLOPs, between the cheapest and the full.
    fixed = [row for row in saved['rows'] if row['row'].startswith('fixed_')]
    assert fixed[-1]['flops_percent'] == pytest.approx(100)
    for row in saved['rows'][:7]:
        assert sum(row['usage']) == pytest.approx(1)
        mix = sum(share * subnet['gflops'] for share, subnet in zip(row['usage'], fixed))
        assert row['gflops'] == pytest.approx(mix, rel=1e-6)
        assert fixed[0]['flops_percent'] <= row['flops_percent'] <= 100
        assert (row['router_gflops'] > 0) == (row['mode'] != 'oracle') and row['images'] == 2
    # ClassSR's classifier, trained on the frozen supernet, routes to its three classes only.
    assert saved['classifier']['parameters'] > 0 and 'net_c_latest.pth' in saved['classifier']['source']
    classes = {i for i in saved['classifier']['subnet_ids']}
    for row in saved['rows'][3:5]:
        assert {i for i, share in enumerate(row['usage']) if share > 0} <= classes and 'class_shares' in row
    assert 'ClassSR classifier class shares' in out
    # Allocation maps: the SR image's size plus the legend strip, painted in the subnets' colours.
    visualization = tmp_path / 'results' / 'WBSR_demo_x2_test' / 'visualization' / 'heldout_photos'
    maps = sorted(visualization.glob('*_subnets.png'))
    assert len(maps) == 14  # two photos x seven routed rows
    for path in maps:
        sr = cv2.imread(str(path).replace('_subnets.png', '.png'))
        painted = cv2.imread(str(path))
        assert painted.shape[1] == sr.shape[1] and painted.shape[0] > sr.shape[0]
        assert not np.array_equal(painted[:sr.shape[0]], sr)  # colour over the grey SR image
    assert (tmp_path / 'experiments' / 'WBSR_demo_x2' / 'models' / 'net_g_latest.pth').is_file()
    # The calibration the Pareto rows used, and the command a user runs on their own photo.
    assert 'mean patch PSNR per subnet (* on the Pareto ladder)' in out
    inference = tmp_path / 'results' / 'WBSR_demo_x2_inference'
    assert cv2.imread(str(inference / 'chelsea_wbsr.png')).shape == sr_shape(tmp_path, 'chelsea')
    assert (inference / 'chelsea_wbsr_subnets.png').is_file()
    assert re.search(r'chelsea.png: \d+x\d+ -> \d+x\d+, [\d.]+ s, [\d.]+% of the full FLOPs', out)


def sr_shape(root, name):
    return cv2.imread(str(root / 'datasets' / 'demo' / 'heldout' / 'GT' / f'{name}.png')).shape
