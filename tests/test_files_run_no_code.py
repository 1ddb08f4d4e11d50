"""Nothing in a file runs as code, and what BasicSR reads unchecked is one line: option files are read
with YAML's safe loader, resume states with ``weights_only`` (docs/training.md, "Option files"; the
compat module's fixes 2 and 7). Each payload would write a marker file that must not appear."""
import os
import re
import subprocess
import sys

import pytest
import torch
import yaml

import basicsr.train
import wbsr_basicsr.train
from wbsr_cli import pipelines
from conftest import newest_log, reset_basicsr_logger, train_options, wbsr_train_options


class Payload:
    """Pickles as a call of ``os.system``: unpickling it runs the command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def run_main(main, monkeypatch, root, option_file, *flags):
    """``wbsr-train`` / ``wbsr-test`` as the command line runs them, in ``root``: the exit status."""
    monkeypatch.setattr(sys, 'argv', ['wbsr', '-opt', str(option_file), *flags])
    reset_basicsr_logger()
    try:
        return main(str(root))
    finally:
        reset_basicsr_logger()


@pytest.mark.parametrize('main', [pipelines.train, pipelines.test], ids=['train', 'test'])
def test_an_option_file_with_a_python_tag_runs_nothing(tmp_path, monkeypatch, capsys, main):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / 'pwned'
    option_file = tmp_path / 'payload.yml'
    option_file.write_text(f'# a comment\nname: !!python/object/apply:os.system ["touch {marker}"]\nnum_gpu: 0\n')
    assert run_main(main, monkeypatch, tmp_path, option_file) == 2
    error = capsys.readouterr().err
    assert f'{option_file}, line 2: the tag !!python/object/apply:os.system is not allowed' in error
    assert len(error.strip().splitlines()) == 1 and not marker.exists()


@pytest.mark.parametrize('text, message', [
    ('name: 123\nmodel_type: SRModel\nnum_gpu: 0\ndatasets: {}\npath: {}\n', 'name is 123, not text'),
    ('name: x\n', 'missing model_type, num_gpu, datasets, path (a test option file needs name, model_type, '
                  'num_gpu, datasets, path)'),
    ('name: x\nnum_gpu: two\nmodel_type: SRModel\ndatasets: {}\npath: {}\n', "num_gpu is 'two', not a number or "
                                                                           'auto'),
    ('name: [unclosed\nnum_gpu: 0\n', 'line 2: not valid YAML'),
    ('- a list\n- not options\n', 'not an option file: expected a mapping of options')])
def test_option_files_basicsr_cannot_read_are_one_line(tmp_path, monkeypatch, capsys, text, message):
    option_file = tmp_path / 'bad.yml'
    option_file.write_text(text)
    assert run_main(pipelines.test, monkeypatch, tmp_path, option_file) == 2
    error = capsys.readouterr().err
    assert f'{option_file}' in error and message in error and len(error.strip().splitlines()) == 1, error


def test_a_training_option_file_needs_train_and_logger(tmp_path, monkeypatch, capsys):
    option_file = tmp_path / 'bad.yml'
    option_file.write_text('name: x\nmodel_type: SRModel\nnum_gpu: 0\ndatasets: {}\npath: {}\n')
    assert run_main(pipelines.train, monkeypatch, tmp_path, option_file) == 2
    assert f'{option_file}: missing train, logger (a training option file needs' in capsys.readouterr().err


def test_option_files_keep_their_key_order(tmp_path, monkeypatch):
    """BasicSR's own reader builds ordered mappings; the safe one in its place does too."""
    from basicsr.utils.options import ordered_yaml
    loaded = yaml.load('b: 1\na: {d: 1, c: 2}\n', Loader=ordered_yaml()[0])
    assert list(loaded) == ['b', 'a'] and list(loaded['a']) == ['d', 'c']


def payload_state(path, marker) -> None:
    """A training state as BasicSR saves it, with a payload beside."""
    torch.save({'epoch': 0, 'iter': 2, 'optimizers': [], 'schedulers': [], 'note': Payload(f'touch {marker}')}, path)


def test_a_resume_state_holding_a_payload_is_refused_unrun(tmp_path, mini_div2k_x2, tiny_pairs, run_pipeline,
                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / 'pwned'
    state = tmp_path / 'given.state'
    payload_state(state, marker)
    options = wbsr_train_options(mini_div2k_x2, tiny_pairs, 4, name='payload')
    options['path']['resume_state'] = str(state)
    with pytest.raises(ValueError, match=re.escape(f'{state}: holds Python objects a training state does not '
                                                   '(posix.system); it is refused and nothing in it was run')):
        run_pipeline(basicsr.train.train_pipeline, tmp_path, options)
    assert not marker.exists()
    # --auto_resume finds the newest state of the experiment: refused too, not skipped as a damaged one
    states = tmp_path / 'experiments' / 'auto' / 'training_states'
    states.mkdir(parents=True)
    payload_state(states / '2.state', marker)
    options = dict(wbsr_train_options(mini_div2k_x2, tiny_pairs, 4, name='auto'))
    with pytest.raises(ValueError, match='2.state: holds Python objects a training state does not'):
        run_pipeline(basicsr.train.train_pipeline, tmp_path, options, '--auto_resume')
    assert not marker.exists()


def test_srmodel_trains_with_torchrun_on_the_cpu(tmp_path, tiny_pairs):
    """Every model BasicSR builds, not only ours, is wrapped for gloo (compat fix 3)."""
    options = train_options(*tiny_pairs, 2)
    options['datasets'].pop('val')
    options.pop('val')
    options['network_g'] = dict(type='MSRResNet', num_feat=8, num_block=1, upscale=2)
    (tmp_path / 'ddp.yml').write_text(yaml.safe_dump(options))
    command = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_port=29519',
               str(wbsr_basicsr.train.__file__), '-opt', str(tmp_path / 'ddp.yml'), '--launcher', 'pytorch']
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env=dict(os.environ, WBSR_ROOT=str(tmp_path), OMP_NUM_THREADS='1'))
    assert result.returncode == 0, result.stderr[-3000:]
    log = newest_log(tmp_path / 'experiments' / options['name'], 'train')
    assert 'world_size: 2' in log and re.search(r'iter: +2, lr', log)
    assert (tmp_path / 'experiments' / options['name'] / 'models' / 'net_g_2.pth').is_file()
