"""Every shipped option file names registered components, builds its network and parses its rows."""
import re
from pathlib import Path

import pytest
import yaml

from basicsr.utils.options import ordered_yaml
from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY
from conftest import REPO
from wbsr_basicsr.archs.slimmable import SlimmableSupernet
from wbsr_basicsr.option_schema import check_options, schema, unknown_keys
from wbsr_basicsr.inference.rows import parse_rows
from wbsr_basicsr.training.subnet_sampling import SubnetSampling
from wbsr_basicsr.routing.classsr_router import class_subnets

OPTION_FILES = sorted((REPO / 'options').rglob('*.yml'))
BENCHMARK_SETS = ['Set5', 'Set14', 'B100', 'Urban100', 'Manga109', 'Test2K', 'Test4K', 'Test8K']
PAPER_PARAMS = {('MSRResNet', 4): 1_517_571, ('RCAN', 4): 15_592_355}


def load(path: Path) -> dict:
    with open(path) as handle:
        return yaml.load(handle, Loader=ordered_yaml()[0])


def test_the_paper_set_is_shipped():
    names = {p.stem for p in OPTION_FILES}
    for arch in ('MSRResNet', 'RCAN'):
        for scale in (2, 4):
            expected = {f'train_WBSR_{arch}_x{scale}', f'train_{arch}_x{scale}_baseline', f'test_WBSR_{arch}_x{scale}',
                        f'test_{arch}_x{scale}_baseline'}
            assert expected <= names
    assert {'train_WBSR_MSRResNet_x4_HES_only', 'train_WBSR_MSRResNet_x4_BDLoss_only',
            'test_WBSR_MSRResNet_x4_woGT', 'train_ClassSR_MSRResNet_x4', 'test_Table1_MSRResNet_x4',
            'train_WBSR_MSRResNet_x4_fast', 'test_WBSR_MSRResNet_x4_fast'} <= names


@pytest.mark.parametrize('path', OPTION_FILES, ids=lambda p: p.stem)
def test_option_file_is_consistent(path):
    opt = load(path)
    assert unknown_keys(opt, schema(), '') == []  # every key known to the one schema
    assert opt['name'] and opt['model_type'] in MODEL_REGISTRY
    if path.parent.name == 'test' and not path.stem.endswith('woGT'):  # prepare_benchmarks.py's sets
        assert [d['name'] for d in opt['datasets'].values()] == BENCHMARK_SETS
        assert all(d['dataroot_gt'] == f"datasets/{d['name']}/GTmod12" for d in opt['datasets'].values())
    for dataset in opt['datasets'].values():
        assert dataset['type'] in DATASET_REGISTRY
        assert f"x{opt['scale']}" in dataset['dataroot_lq'].lower()  # the LR data of this scale
    network = dict(opt['network_g'])
    net = ARCH_REGISTRY.get(network.pop('type'))(**network)
    assert network['upscale'] == opt['scale']
    arch = opt['network_g']['type'].replace('WBSR', '')
    if (arch, opt['scale']) in PAPER_PARAMS and network.get('num_feat') == 64:
        assert sum(p.numel() for p in net.parameters()) == PAPER_PARAMS[(arch, opt['scale'])]
    if 'train' in opt:
        assert opt['train']['pixel_opt']['type'] in LOSS_REGISTRY
        SubnetSampling(**opt['train'].get('subnet_sampling', {}))
    if opt['model_type'] in ('WBSRModel', 'ClassSRModel'):
        assert isinstance(net, SlimmableSupernet) and len(net.subnets) == 9
        rows = parse_rows(opt.get('val', {}).get('rows', [{'mode': 'ceil'}]), net)
        assert rows and (opt['routing']['patch_size'], opt['routing']['stride']) in {(32, 28), (48, 44)}
    if opt['model_type'] == 'ClassSRModel':
        classifier = dict(opt['network_c'])
        classifier = ARCH_REGISTRY.get(classifier.pop('type'))(**classifier)
        assert classifier.num_classes == len(class_subnets(net, opt['classsr']['subnets'])) == 3
        assert {opt['train'][key]['type'] for key in ('class_opt', 'average_opt')} <= set(LOSS_REGISTRY.keys())
        assert opt['path']['ignore_resume_networks'] == ['network_g']


@pytest.mark.parametrize('edit, message', [
    (lambda o: o['val']['metrics']['psnr'].update(test_y_chanel=True),
     "unknown option val.metrics.psnr.test_y_chanel (did you mean 'test_y_channel'?)"),
    (lambda o: o['val']['metrics']['psnr'].update(crop_boarder=4),
     "unknown option val.metrics.psnr.crop_boarder (did you mean 'crop_border'?)"),
    (lambda o: o['val']['metrics']['psnr'].update(type='calculate_psnrr'),
     "unknown type val.metrics.psnr.type (did you mean 'calculate_psnr'?)"),
    (lambda o: o['val']['metrics'].update(niqe={'type': 'calculate_niqe'}), 'val.metrics.niqe: calculate_niqe needs '
                                                                            'crop_border'),
    (lambda o: o['train'].update(total_iter='two'), "train.total_iter: 'two' is not a number"),
    (lambda o: o['val'].update(val_freq='5e3'), "val.val_freq: '5e3' is not a number (YAML reads 5e3 as text: write "
                                                '!!float 5e3)'),
    (lambda o: o['datasets']['train'].update(sampler='SamplingAug'), "datasets.train.sampler: expected a block of "
                                                                     "options (a mapping), not 'SamplingAug'")])
def test_values_no_run_could_use_are_refused_naming_the_key(edit, message):
    """BasicSR would fail at the first validation (a metric), at the start (a number) or not at all
    (a mistyped metric option, which its metrics swallow: PSNR on RGB reported as on Y)."""
    options = load(REPO / 'options' / 'train' / 'train_WBSR_MSRResNet_x4.yml')
    options['val']['metrics']['psnr']['better'] = 'higher'  # BasicSR's own key, allowed
    options['datasets']['train'].pop('hes')
    edit(options)
    with pytest.raises(ValueError, match=re.escape(message)):
        check_options(dict(options, datasets={'train': options['datasets']['train']}), 'x.yml')
