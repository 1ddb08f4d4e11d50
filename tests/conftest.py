"""Shared fixtures: real photos from scikit-image, BasicSR option files and pipeline runs."""
import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable, Dict, Iterable, Tuple

import cv2
import numpy as np
import pytest
import yaml

import wbsr_basicsr  # noqa: F401  (compatibility fixes and registration, before basicsr)
from wbsr_basicsr.prepare.common import bicubic_downsample
from basicsr.utils import logger as basicsr_logger
from skimage import data as skimage_data

REPO = Path(__file__).resolve().parents[1]
PREPARE_DIV2K = REPO / 'datasets_prep' / 'prepare_div2k.py'
COLOUR_PHOTOS = ('astronaut', 'chelsea', 'coffee', 'rocket', 'immunohistochemistry', 'hubble_deep_field')
"""Colour photos bundled inside scikit-image's wheel (no download)."""


def photo_rgb(name: str) -> np.ndarray:
    """One of scikit-image's bundled photos as an H x W x 3 uint8 RGB array."""
    return getattr(skimage_data, name)()[..., :3]


def write_paired_folder(root: Path, scale: int, hr_size: int, names: Iterable[str] = COLOUR_PHOTOS[:3]
                        ) -> Tuple[Path, Path]:
    """Write centre crops of ``names`` (``hr_size`` square) and their MATLAB-bicubic LR images.

    Layout as BasicSR's paired folders: ``root/GT/<name>.png`` and ``root/LQ/<name>.png``.
    """
    gt_dir, lq_dir = root / 'GT', root / 'LQ'
    gt_dir.mkdir(parents=True)
    lq_dir.mkdir(parents=True)
    for name in names:
        rgb = photo_rgb(name)
        top, left = (rgb.shape[0] - hr_size) // 2, (rgb.shape[1] - hr_size) // 2
        hr = rgb[top:top + hr_size, left:left + hr_size]
        lr = bicubic_downsample(hr, scale)
        cv2.imwrite(str(gt_dir / f'{name}.png'), cv2.cvtColor(hr, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(lq_dir / f'{name}.png'), cv2.cvtColor(lr, cv2.COLOR_RGB2BGR))
    return gt_dir, lq_dir


SCALE = 2
NETWORK = dict(type='WBSRMSRResNet', num_feat=16, num_block=2, upscale=SCALE, widths=[8, 16], depths=[1, 2])
PSNR = dict(type='calculate_psnr', crop_border=SCALE, test_y_channel=True)


def paired_dataset(name: str, gt_dir: Path, lq_dir: Path, **extra) -> dict:
    options = dict(name=name, type='PairedImageDataset', dataroot_gt=str(gt_dir), dataroot_lq=str(lq_dir),
                   io_backend=dict(type='disk'))
    return dict(options, **extra)


def mini_div2k_hes_dataset(root: Path, **extra) -> dict:
    """The HES dataset's options on :func:`mini_div2k_x2`'s LMDBs and statistics file (x2, GT 48),
    10 classes; ``extra`` options added."""
    return dict(name='hes', type='HESPairedImageDataset', phase='train', scale=2,
                dataroot_gt=str(root / 'DIV2K_train_HR_sub.lmdb'),
                dataroot_lq=str(root / 'DIV2K_train_LR_bicubic_X2_sub.lmdb'), io_backend=dict(type='lmdb'),
                gt_size=48, use_hflip=True, use_rot=True, batch_size_per_gpu=4,
                hes=dict(stats_file=str(root / 'hes_stats_X2.npz'), num_classes=10), **extra)


def train_options(gt_dir: Path, lq_dir: Path, total_iter: int) -> dict:
    return dict(
        name='supernet_in_srmodel', model_type='SRModel', scale=SCALE, num_gpu=0, manual_seed=0,
        datasets=dict(
            train=paired_dataset('tiny_train', gt_dir, lq_dir, gt_size=32, use_hflip=True, use_rot=True,
                                 num_worker_per_gpu=0, batch_size_per_gpu=2, dataset_enlarge_ratio=4,
                                 prefetch_mode=None),
            val=paired_dataset('tiny_val', gt_dir, lq_dir)),
        network_g=NETWORK,
        path=dict(pretrain_network_g=None, strict_load_g=True, resume_state=None),
        train=dict(ema_decay=0, optim_g=dict(type='Adam', lr=2e-4, betas=[0.9, 0.99]),
                   scheduler=dict(type='MultiStepLR', milestones=[100], gamma=0.5),
                   total_iter=total_iter, warmup_iter=-1, pixel_opt=dict(type='L1Loss', loss_weight=1.0)),
        val=dict(val_freq=4, save_img=False, metrics=dict(psnr=PSNR)),
        logger=dict(print_freq=1, save_checkpoint_freq=2, use_tb_logger=False),
    )


def wbsr_train_options(prepared: Path, val_pairs, total_iter: int, strategy: str = 'sandwich',
                       name: str = 'wbsr_tiny') -> dict:
    gt_dir, lq_dir = val_pairs
    train = dict(name='mini_div2k', type='HESPairedImageDataset',
                 dataroot_gt=str(prepared / 'DIV2K_train_HR_sub.lmdb'),
                 dataroot_lq=str(prepared / f'DIV2K_train_LR_bicubic_X{SCALE}_sub.lmdb'), io_backend=dict(type='lmdb'),
                 gt_size=48, use_hflip=True, use_rot=True, num_worker_per_gpu=1, batch_size_per_gpu=4,
                 dataset_enlarge_ratio=10, prefetch_mode=None,
                 hes=dict(stats_file=str(prepared / f'hes_stats_X{SCALE}.npz'), start_iter=2))
    return dict(
        name=name, model_type='WBSRModel', scale=SCALE, num_gpu=0, manual_seed=0,
        datasets=dict(train=train, val=paired_dataset('tiny_val', gt_dir, lq_dir)),
        network_g=NETWORK,
        routing=dict(stats_file=str(prepared / f'routing_stats_X{SCALE}.npz'), num_classes=10, patch_size=32,
                     stride=28, max_batch=5),
        path=dict(pretrain_network_g=None, strict_load_g=True, resume_state=None),
        train=dict(ema_decay=0.9, optim_g=dict(type='Adam', lr=2e-4, betas=[0.9, 0.999]),
                   scheduler=dict(type='MultiStepLR', milestones=[100], gamma=0.5), total_iter=total_iter,
                   warmup_iter=-1, subnet_sampling=dict(strategy=strategy, num_random=1), sigma_lr=1e-2,
                   pixel_opt=dict(type='BDLoss', gmm_file=str(prepared / 'bdloss_prior.json'), init_sigma=0.05,
                                  learn_sigma=True)),
        val=dict(val_freq=4, save_img=False, rows=[dict(mode='ceil'), dict(mode='fixed', subnet='full')],
                 metrics=dict(psnr=PSNR)),
        logger=dict(print_freq=1, save_checkpoint_freq=2, use_tb_logger=False),
    )


def rows_test_options(name: str, checkpoint: Path, tiny_pairs, rows: list, save_img: bool = False) -> dict:
    """``test.py`` options running ``rows`` with the tiny network's ``checkpoint`` on the tiny pairs (PSNR)."""
    return dict(name=name, model_type='WBSRModel', scale=SCALE, num_gpu=0, manual_seed=0,
                datasets=dict(test_1=paired_dataset('tiny', *tiny_pairs)), network_g=NETWORK,
                path=dict(pretrain_network_g=str(checkpoint), strict_load_g=True, param_key_g='params'),
                val=dict(save_img=save_img, rows=rows, metrics=dict(psnr=PSNR)))


def make_row(mode: str, **options):
    """One inference row, as ``val.rows`` entry ``{mode: ..., **options}`` makes it."""
    from wbsr_basicsr.routing import router_class
    return router_class(mode)(**options)


def newest_log(folder: Path, prefix: str) -> str:
    logs = sorted(folder.glob(f'{prefix}_*.log'), key=lambda p: p.stat().st_mtime)
    assert logs, f'no {prefix} log in {folder}'
    return logs[-1].read_text()


def load_script(name: str, path: Path) -> ModuleType:
    """Import a script (e.g. ``datasets_prep/prepare_div2k.py``) as module ``name``, once."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # worker processes unpickle its classes by module name
    spec.loader.exec_module(module)
    return module


def write_mini_div2k(root: Path, names=COLOUR_PHOTOS[:3], official_scales=()) -> Path:
    """``root/DIV2K_train_HR/0001.png ...`` (+ official LR for ``official_scales``), DIV2K's layout."""
    hr_dir = root / 'DIV2K_train_HR'
    hr_dir.mkdir(parents=True)
    for index, name in enumerate(names, start=1):
        bgr = cv2.cvtColor(photo_rgb(name), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(hr_dir / f'{index:04d}.png'), bgr)
        for scale in official_scales:
            lr_dir = root / 'DIV2K_train_LR_bicubic' / f'X{scale}'
            lr_dir.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(lr_dir / f'{index:04d}x{scale}.png'),
                        bicubic_downsample(bgr, scale))
    return root


def reset_basicsr_logger() -> None:
    """BasicSR configures its root logger once per process; let each pipeline run log anew."""
    logger = logging.getLogger('basicsr')
    for handler in list(logger.handlers):
        handler.close()
        logger.removeHandler(handler)
    basicsr_logger.initialized_logger.clear()


def pipeline_runner(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Run a BasicSR pipeline in-process as its command line would: write the YAML, set argv."""

    def run(pipeline: Callable[[str], None], root: Path, opt: Dict, *flags: str) -> None:
        opt_path = root / f"{opt['name']}.yml"
        opt_path.write_text(yaml.safe_dump(opt))
        monkeypatch.setattr(sys, 'argv', ['basicsr', '-opt', str(opt_path), *flags])
        reset_basicsr_logger()
        pipeline(str(root))
        reset_basicsr_logger()

    return run


@pytest.fixture(autouse=True)
def user_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own cache folder (time profiles measured for this machine): the user's is never touched."""
    folder = tmp_path_factory.mktemp('cache')
    monkeypatch.setenv('WBSR_CACHE_DIR', str(folder))
    return folder


@pytest.fixture
def run_pipeline(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    return pipeline_runner(monkeypatch)


@pytest.fixture(scope='session')
def tiny_pairs(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path]:
    """Three photos, 96 x 96 HR with their x2 LR, as BasicSR paired folders."""
    return write_paired_folder(tmp_path_factory.mktemp('pairs'), scale=SCALE, hr_size=96)


@pytest.fixture(scope='session')
def mini_div2k_x2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three photos prepared by prepare_div2k.py for x2: 96-pixel sub-images, LR patches of 24."""
    root = tmp_path_factory.mktemp('mini_div2k')
    source = write_mini_div2k(root / 'DIV2K')
    script = load_script('prepare_div2k', PREPARE_DIV2K)
    argv = ['--input', str(source), '--output', str(root / 'out'), '--scales', '2', '--crop-size', '96', '--step',
            '48', '--thresh-size', '12', '--gt-size', '48', '--gmm-samples', '3000', '--gmm-components', '3',
            '--workers', '2']
    assert script.main(argv) == 0
    return root / 'out'


@pytest.fixture(scope='session')
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Set5- and Set14-named folders of other photos, in prepare_benchmarks.py's layout."""
    root = tmp_path_factory.mktemp('bench')
    for name, photos in (('Set5', COLOUR_PHOTOS[3:5]), ('Set14', COLOUR_PHOTOS[4:6])):
        gt, lq = write_paired_folder(root / name, SCALE, 96, photos)
        gt.rename(root / name / 'GTmod12')
        lq.rename(root / name / f'LRbicx{SCALE}')
    return root


@pytest.fixture(scope='session')
def trained_wbsr(tmp_path_factory: pytest.TempPathFactory, mini_div2k_x2: Path, tiny_pairs) -> Path:
    """A tiny WBSR supernet (x2, 4 subnets) trained 2 iterations through train_pipeline: its
    latest checkpoint (read-only: copy it before changing it)."""
    import basicsr.train
    root = tmp_path_factory.mktemp('trained_wbsr')
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(root)
        pipeline_runner(monkeypatch)(basicsr.train.train_pipeline, root,
                                     wbsr_train_options(mini_div2k_x2, tiny_pairs, 2, name='wbsr_trained'))
    return root / 'experiments' / 'wbsr_trained' / 'models' / 'net_g_latest.pth'


PIPELINE_FIXTURES = {'run_pipeline', 'trained_wbsr', 'mini_div2k_x2'}
PIPELINE_MODULES = {'test_demo', 'test_reproduce'}


def pytest_collection_modifyitems(items) -> None:
    """Mark as ``pipeline`` the tests that run BasicSR's pipelines, the preparation script or whole
    commands in subprocesses (``make test-quick`` leaves them out; ``make test`` runs everything)."""
    for item in items:
        if PIPELINE_FIXTURES & set(getattr(item, 'fixturenames', ())) or item.module.__name__ in PIPELINE_MODULES:
            item.add_marker(pytest.mark.pipeline)
