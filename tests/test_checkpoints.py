"""Network files and training states: nothing lost under kills, damage found, clear errors."""
import logging
import os
import signal
import subprocess
import sys
import time
import zipfile

import pytest
import torch

from wbsr_basicsr.compat import load_resume_state
from wbsr_basicsr.utils.atomic import is_partial
from wbsr_basicsr.utils.checkpoints import parameter_checksums, read_checkpoint, verify_checksums

SAVER = '''
import sys, torch
import wbsr_basicsr
from basicsr.models.base_model import BaseModel

class Model(BaseModel):  # BaseModel's saves as every BasicSR model has them, after the compat fix
    def __init__(self, root):
        self.opt = {'path': {'training_states': root + '/training_states', 'models': root + '/models'}, 'dist': False}
        self.net_g = torch.nn.Linear(2000, 2000)
        self.net_g(torch.rand(1, 2000)).sum().backward()
        self.optimizers = [torch.optim.Adam(self.net_g.parameters())]
        self.optimizers[0].step()
        self.schedulers = []

model = Model(sys.argv[1])
iteration = 1
while True:
    if sys.argv[2] == 'state':
        model.save_training_state(0, iteration)
    else:
        model.save_network(model.net_g, 'net_g', iteration)
    iteration += 1
'''


def resume_options(root) -> dict:
    return dict(auto_resume=True, num_gpu=0, rank=0, network_g={},
                path=dict(training_states=str(root / 'training_states'), models=str(root / 'models'),
                          resume_state=None))


def kill_during_saves(root, kind: str, folder, suffix: str, attempts: int = 5):
    """Run real saves in a loop; SIGKILL once a complete file and a partial one exist (again if the
    partial one was renamed between the look and the kill). The names of the complete files."""
    for _ in range(attempts):
        process = subprocess.Popen([sys.executable, '-c', SAVER, str(root), kind], start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            names = os.listdir(folder)
            if any(is_partial(n) for n in names) and \
                    any(n.endswith(suffix) and not is_partial(n) for n in names):
                break
            time.sleep(0.001)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        names = os.listdir(folder)
        if any(is_partial(n) for n in names):  # the kill hit a save
            return sorted(n for n in names if not is_partial(n))
    raise AssertionError(f'no kill hit a save in {attempts} attempts: {names}')


@pytest.mark.parametrize('kind', ['state', 'network'])
def test_a_kill_during_a_save_loses_nothing(tmp_path, kind, caplog):
    """SIGKILL while BasicSR saves a 48 MB training state or a 16 MB network: every file under its final
    name is whole, and the next run (its resume step) removes the leftover and resumes from the newest."""
    states, models = tmp_path / 'training_states', tmp_path / 'models'
    states.mkdir()
    models.mkdir()
    folder = states if kind == 'state' else models
    complete = kill_during_saves(tmp_path, kind, folder, '.state' if kind == 'state' else '.pth')
    for name in complete:
        if kind == 'state':
            assert torch.load(folder / name, weights_only=False)['iter'] == int(name[:-len('.state')])
        else:
            assert read_checkpoint(str(folder / name))['params']['weight'].shape == (2000, 2000)

    opt = resume_options(tmp_path)
    with caplog.at_level(logging.WARNING, logger='basicsr'):
        resumed = load_resume_state(opt)
    assert sorted(os.listdir(folder)) == complete  # the leftover is gone
    assert any('left by a killed save' in r.getMessage() for r in caplog.records)
    if kind == 'state':
        assert resumed['iter'] == max(int(n[:-len('.state')]) for n in complete)


def test_an_unreadable_newest_state_is_skipped_with_a_warning(tmp_path, caplog):
    """A truncated newest state (a kill under BasicSR's own, non-atomic save): resume from the previous one."""
    states = tmp_path / 'training_states'
    states.mkdir()
    torch.save({'epoch': 0, 'iter': 2, 'optimizers': [], 'schedulers': []}, states / '2.state')
    torch.save({'epoch': 0, 'iter': 4, 'optimizers': [], 'schedulers': []}, states / '4.state')
    (states / '4.state').write_bytes((states / '4.state').read_bytes()[:100])
    (states / '6.state').write_bytes(b'')
    opt = resume_options(tmp_path)
    with caplog.at_level(logging.WARNING, logger='basicsr'):
        assert load_resume_state(opt)['iter'] == 2
    skipped = [r.getMessage() for r in caplog.records if 'Skipping the unreadable training state' in r.getMessage()]
    assert len(skipped) == 2 and str(states / '6.state') in skipped[0] and str(states / '4.state') in skipped[1]
    assert opt['path']['pretrain_network_g'] == str(tmp_path / 'models' / 'net_g_2.pth')


def test_an_unreadable_resume_state_given_by_path_is_an_error(tmp_path):
    path = tmp_path / '8.state'
    path.write_bytes(b'not a state')
    opt = dict(resume_options(tmp_path), auto_resume=False)
    opt['path']['resume_state'] = str(path)
    with pytest.raises(ValueError, match=f'{path}: not a readable training state'):
        load_resume_state(opt)


class Foreign:
    pass


def test_bad_network_files_get_one_line_errors(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'params': torch.nn.Conv2d(3, 8, 3).state_dict()}, good)
    assert set(read_checkpoint(str(good))['params']) == {'weight', 'bias'}
    truncated, empty, foreign, no_params = (tmp_path / f'{n}.pth' for n in ('truncated', 'empty', 'foreign', 'none'))
    truncated.write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2])
    empty.write_bytes(b'')
    torch.save({'params': Foreign()}, foreign)
    torch.save({'iter': 3}, no_params)
    for path, message in [(tmp_path / 'missing.pth', 'no such network file'), (empty, 'is empty'),
                          (truncated, 'not a readable network file'), (foreign, 'holds Python objects'),
                          (no_params, 'holds no network parameters')]:
        with pytest.raises(ValueError) as error:
            read_checkpoint(str(path))
        assert str(error.value).startswith(f'{path}: ') and message in str(error.value)
        assert '\n' not in str(error.value)


def damage_largest_tensor(path) -> None:
    """Flip bytes in the middle of the file's largest tensor record, leaving the zip structure intact."""
    with zipfile.ZipFile(path) as archive:
        record = max(archive.infolist(), key=lambda info: info.file_size)
    with open(path, 'r+b') as handle:
        handle.seek(record.header_offset + 26)
        name_length, extra_length = (int.from_bytes(handle.read(2), 'little') for _ in range(2))
        middle = record.header_offset + 30 + name_length + extra_length + record.file_size // 2
        handle.seek(middle)
        chunk = handle.read(64)
        handle.seek(middle)
        handle.write(bytes(b ^ 0x5A for b in chunk))


def test_checksums_find_damaged_tensor_bytes(tmp_path):
    path = tmp_path / 'net.pth'
    content = {'params': torch.nn.Conv2d(16, 16, 3).state_dict()}
    checksums = parameter_checksums(content)
    torch.save(content, path)
    verify_checksums(str(path), read_checkpoint(str(path)), checksums)
    damage_largest_tensor(path)
    damaged = read_checkpoint(str(path))  # torch itself loads it without complaint
    with pytest.raises(ValueError, match=f"{path}: the parameters under 'params' do not match the checksum"):
        verify_checksums(str(path), damaged, checksums)
