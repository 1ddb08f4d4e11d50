"""The shipped models: every name in models.json has its checkpoint, records how it was trained, and
runs with no other argument than the input (the default x4 model into results/)."""
import json

import cv2
import pytest

from conftest import REPO, load_script, photo_rgb, reset_basicsr_logger
from wbsr_basicsr.inference.supernet_entry import SupernetEntry, load_supernet
from wbsr_basicsr.zoo import DEFAULT_MODEL, INDEX, model_path, models_table, shipped_models
from wbsr_basicsr.zoo.recipes import RECIPES

MODELS = shipped_models()


def test_every_recipe_is_shipped_with_its_record():
    assert set(MODELS) == set(RECIPES) and DEFAULT_MODEL in MODELS
    for name, model in MODELS.items():
        net, _, entry = load_supernet(model_path(name))
        recipe = RECIPES[name]
        assert entry.scale == model.scale == recipe.scale == net.upscale
        assert {key: entry.training[key] for key in recipe.to_dict()} == recipe.to_dict() == model.recipe
        assert sum(p.numel() for p in net.parameters()) == model.params
        assert entry.calibration is not None and entry.timing  # calibrated: ladder, ARM's table, a time profile
        assert model.path.stat().st_size < 6 * 2 ** 20
    assert json.loads(INDEX.read_text()) == sorted(json.loads(INDEX.read_text()), key=lambda entry: entry['name'])


def test_the_command_runs_the_default_model_with_only_an_input(tmp_path, monkeypatch, capsys):
    reset_basicsr_logger()
    monkeypatch.chdir(tmp_path)
    cv2.imwrite('photo.png', cv2.cvtColor(photo_rgb('astronaut')[:40, :56], cv2.COLOR_RGB2BGR))
    command = load_script('inference_wbsr', REPO / 'inference' / 'inference_wbsr.py').main
    assert command(['-i', 'photo.png']) == 0
    assert cv2.imread(str(tmp_path / 'results' / 'photo_wbsr.png')).shape == (160, 224, 3)  # x4
    assert command(['--list-models']) == 0
    printed = capsys.readouterr().out
    assert printed.strip().endswith(models_table().strip()) and f'{DEFAULT_MODEL} (default)' in printed


def test_an_unknown_name_lists_the_shipped_ones():
    with pytest.raises(ValueError, match=f'no shipped model of that name \\(shipped: {", ".join(MODELS)}\\)'):
        model_path('RealESRGAN_x4plus')


def test_the_entry_round_trips_its_training_record(tmp_path):
    entry = SupernetEntry.read(model_path(None))
    assert SupernetEntry.from_dict(entry.to_dict()).training == entry.training
