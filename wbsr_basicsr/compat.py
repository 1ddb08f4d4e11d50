"""Compatibility fixes that let ``basicsr==1.4.2`` run with modern torch and on the CPU.

Nothing under site-packages is edited; :func:`install` (called by ``import wbsr_basicsr``)
applies seven fixes at run time:

1. **torchvision >= 0.17.** BasicSR 1.4.2, the latest PyPI release, imports
   ``torchvision.transforms.functional_tensor.rgb_to_grayscale``. torchvision 0.17
   removed that private module; the function lives on in
   ``torchvision.transforms.functional``. An alias module is registered under the old name
   before BasicSR is imported (BasicSR's master branch fixed the import but never released).
2. **Resuming.** ``basicsr.train.load_resume_state`` calls ``torch.cuda.current_device()``,
   which fails on a machine without a GPU, and loads with ``torch.load``'s default, which
   since torch 2.6 refuses the ``Counter`` that scheduler states contain. It is replaced
   by :func:`load_resume_state`, which loads onto the GPU when the run uses one and onto the
   CPU otherwise, with ``weights_only=True`` and only that ``Counter`` allowed besides
   (:func:`~wbsr_basicsr.utils.checkpoints.read_training_state`: a state holding other Python
   objects is refused, never run), skips an unreadable newest state (a kill during its save)
   with a warning, removes leftovers of killed saves, and records the resumed iteration as
   ``opt['path']['resume_iter']``.

3. **Distributed on the CPU.** BasicSR's ``init_dist`` pins a CUDA device and uses NCCL, and
   ``BaseModel.model_to_device`` wraps networks for the current CUDA device; on a machine
   without a GPU ``--launcher pytorch`` now starts a gloo process group instead and every
   model's networks are wrapped in CPU ``DistributedDataParallel``. With GPUs nothing changes.
4. **Saving and loading.** BasicSR writes network files and training states straight to their
   final names, so a kill leaves a truncated file that breaks every later resume or test.
   ``BaseModel.save_network`` and ``save_training_state`` are replaced by the atomic writers
   of :mod:`wbsr_basicsr.utils.checkpoints`, and a ``load_network`` that fails reads the file
   again with :func:`~wbsr_basicsr.utils.checkpoints.read_checkpoint`, which names the file and
   the problem (a readable file whose keys do not fit keeps BasicSR's own error).
5. **Test pairs.** ``PairedImageDataset`` crops a test GT image to its LR image x scale, so a
   misaligned pair scores a wrong PSNR in silence; outside training it now checks the pair
   (:mod:`wbsr_basicsr.data.alignment`) and stops with an error naming both files.
6. **Option typos.** BasicSR reads the option keys it knows and ignores the others, so a typo
   falls back to a default in silence. ``parse_options``, as ``train.py`` and ``test.py`` call it,
   now checks the file against one schema (:mod:`wbsr_basicsr.option_schema`): first the keys
   BasicSR reads unchecked (a missing ``num_gpu`` was a ``KeyError``), then unknown keys, a
   network that does not fit ``scale``, datasets that cannot work.
7. **Option files run no code.** BasicSR reads option files with YAML's full loader, which
   builds any Python object a tag names (``!!python/object/apply:os.system [...]`` runs the
   command). Its ``ordered_yaml`` is replaced by
   :func:`~wbsr_basicsr.utils.options.safe_ordered_yaml` (the safe loader, keys in order),
   and ``parse_options`` reads the file with
   :func:`~wbsr_basicsr.utils.options.read_option_file` before BasicSR does: a tag, a file
   that is not YAML, or one that is not a mapping is one line naming the file and the line.

One hook is added: ``basicsr.train.create_train_val_dataloader`` is wrapped so that a
training dataset with a ``training_sampler(...)`` method (the HES dataset) supplies the
sampler in place of BasicSR's ``EnlargedSampler``, and with ``training_batches(loader, sampler)``
wraps the loader BasicSR builds on it (the HES dataset adds its per-batch fields there, in the
main process); nothing changes for other datasets.
"""
import functools
import importlib.metadata
import importlib.util
import inspect
import logging
import os
import sys
import types
from os import path as osp
from typing import Callable, Dict, List, Optional

import torch

from wbsr_basicsr.utils.atomic import remove_partial
from wbsr_basicsr.utils.options import read_option_file, safe_ordered_yaml

LEGACY_MODULE = 'torchvision.transforms.functional_tensor'
BASICSR_VERSION = '1.4.2'
REPLACED = {  # what is replaced or wrapped -> the parameters it had in BasicSR 1.4.2
    'basicsr.train.load_resume_state': ['opt'],
    'basicsr.train.create_train_val_dataloader': ['opt', 'logger'],
    'basicsr.utils.options.init_dist': ['launcher', 'backend', 'kwargs'],
    'basicsr.models.base_model.BaseModel.save_network': ['self', 'net', 'net_label', 'current_iter', 'param_key'],
    'basicsr.models.base_model.BaseModel.save_training_state': ['self', 'epoch', 'current_iter'],
    'basicsr.models.base_model.BaseModel.load_network': ['self', 'net', 'load_path', 'strict', 'param_key'],
    'basicsr.data.paired_image_dataset.PairedImageDataset.__getitem__': ['self', 'index'],
    'basicsr.models.base_model.BaseModel.model_to_device': ['self', 'net'],
    'basicsr.train.parse_options': ['root_path', 'is_train'],
    'basicsr.test.parse_options': ['root_path', 'is_train'],
    'basicsr.utils.options.ordered_yaml': [],
}


def install() -> None:
    """Apply the fixes and the hook; safe to call more than once."""
    _alias_functional_tensor()
    check_basicsr(importlib.metadata.version('basicsr'), {name: resolve(name) for name in REPLACED})
    import basicsr.train

    basicsr.train.load_resume_state = load_resume_state
    _install_checkpoint_io()
    _install_pair_check()
    import basicsr.utils.options

    basicsr.utils.options.ordered_yaml = safe_ordered_yaml
    if not getattr(basicsr.utils.options.init_dist, 'wbsr_wrapped', False):
        basicsr.utils.options.init_dist = _with_cpu_fallback(basicsr.utils.options.init_dist)
    if not getattr(basicsr.train.create_train_val_dataloader, 'wbsr_wrapped', False):
        basicsr.train.create_train_val_dataloader = _with_dataset_samplers(basicsr.train.create_train_val_dataloader)
    import basicsr.test

    for pipeline in (basicsr.train, basicsr.test):
        if not getattr(pipeline.parse_options, 'wbsr_wrapped', False):
            pipeline.parse_options = _with_option_check(pipeline.parse_options)


def _with_option_check(parse_options: Callable) -> Callable:
    """``parse_options`` that reads the option file safely and checks what BasicSR reads unchecked before
    BasicSR sees it, then checks the whole file (fixes 6 and 7)."""

    @functools.wraps(parse_options)
    def parse(root_path, is_train=True):
        from wbsr_basicsr.option_schema import check_options, check_required

        option_file = _option_file_argument()
        if option_file is not None:
            check_required(read_option_file(option_file), option_file, is_train)
        opt, args = parse_options(root_path, is_train)
        check_options(opt, args.opt)
        return opt, args

    parse.wbsr_wrapped = True
    return parse


def _option_file_argument() -> Optional[str]:
    """The ``-opt`` of the command line, as BasicSR's ``parse_options`` will read it (None: BasicSR says
    that it is missing)."""
    import argparse

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('-opt')
    return parser.parse_known_args()[0].opt


def check_basicsr(version: str, functions: Dict[str, Callable]) -> None:
    """Refuse a BasicSR these fixes were not written for: another version, or replaced functions whose
    parameters changed (already replaced ones, from an earlier call, are ours and pass)."""
    if version != BASICSR_VERSION:
        raise ImportError(f'wbsr_basicsr fixes BasicSR {BASICSR_VERSION} at run time, but basicsr {version} is '
                          f'installed; install basicsr=={BASICSR_VERSION} (docs/install.md).')
    for name, function in functions.items():
        if getattr(function, 'wbsr_wrapped', False) or function.__module__.startswith('wbsr_basicsr'):
            continue
        parameters = list(inspect.signature(inspect.unwrap(function)).parameters)
        if parameters != REPLACED[name]:
            raise ImportError(f'wbsr_basicsr replaces {name}({", ".join(REPLACED[name])}), but this basicsr has '
                              f'{name}({", ".join(parameters)}); the fixes do not fit it.')


def resolve(name: str) -> Callable:
    """The object a dotted name such as ``basicsr.models.base_model.BaseModel.save_network`` names."""
    parts = name.split('.')
    for split in range(len(parts), 0, -1):
        try:
            target = importlib.import_module('.'.join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            target = getattr(target, attribute)
        return target
    raise ImportError(f'{name} not found.')


def _alias_functional_tensor() -> None:
    """Register the ``functional_tensor`` alias if this torchvision lacks the module."""
    if LEGACY_MODULE in sys.modules or importlib.util.find_spec(LEGACY_MODULE) is not None:
        return
    from torchvision.transforms import functional

    alias = types.ModuleType(LEGACY_MODULE)
    alias.__doc__ = 'Alias installed by wbsr_basicsr.compat for basicsr 1.4.2.'
    alias.rgb_to_grayscale = functional.rgb_to_grayscale
    sys.modules[LEGACY_MODULE] = alias


def _with_cpu_fallback(init_dist: Callable) -> Callable:
    """``init_dist`` that starts a gloo process group for ``--launcher pytorch`` without CUDA."""

    def init_dist_any_device(launcher: str, backend: str = 'nccl', **kwargs) -> None:
        if launcher == 'pytorch' and not torch.cuda.is_available():
            torch.distributed.init_process_group(backend='gloo')
            return
        init_dist(launcher, backend, **kwargs)

    init_dist_any_device.wbsr_wrapped = True
    return init_dist_any_device


def _with_cpu_distributed(model_to_device: Callable) -> Callable:
    """``model_to_device`` that wraps a network in CPU ``DistributedDataParallel`` (gloo) when the model
    runs distributed on the CPU (fix 3)."""

    def to_device(self, net: torch.nn.Module) -> torch.nn.Module:
        if self.opt['dist'] and self.device.type == 'cpu':
            from torch.nn.parallel import DistributedDataParallel
            return DistributedDataParallel(net.to(self.device),
                                           find_unused_parameters=self.opt.get('find_unused_parameters', False))
        return model_to_device(self, net)

    to_device.wbsr_wrapped = True
    return to_device


def _install_checkpoint_io() -> None:
    """Atomic network files and training states for every BasicSR model; readable load errors."""
    from basicsr.models.base_model import BaseModel

    from wbsr_basicsr.utils import checkpoints

    if getattr(BaseModel.load_network, 'wbsr_wrapped', False):
        return
    load_network = BaseModel.load_network

    def load_checked_network(self, net, load_path: str, strict: bool = True, param_key: str = 'params') -> None:
        try:
            load_network(self, net, load_path, strict, param_key)
        except Exception:
            checkpoints.read_checkpoint(load_path)  # a missing, empty, truncated or foreign file: a clear error
            raise

    load_checked_network.wbsr_wrapped = True
    BaseModel.load_network = load_checked_network
    BaseModel.model_to_device = _with_cpu_distributed(BaseModel.model_to_device)
    BaseModel.save_network = checkpoints.save_network
    BaseModel.save_training_state = checkpoints.save_training_state


def _install_pair_check() -> None:
    """Check every test pair of ``PairedImageDataset`` for alignment (see the module docstring)."""
    from basicsr.data.paired_image_dataset import PairedImageDataset

    from wbsr_basicsr.data.alignment import check_alignment, image_size

    if getattr(PairedImageDataset.__getitem__, 'wbsr_wrapped', False):
        return
    get_item = PairedImageDataset.__getitem__

    def checked_item(self, index: int) -> dict:
        item = get_item(self, index)
        if self.opt['phase'] != 'train':
            gt_size = image_size(self.file_client.get(item['gt_path'], 'gt'))
            check_alignment(gt_size, tuple(item['lq'].shape[-2:]), self.opt['scale'], item['gt_path'],
                            item['lq_path'])
        return item

    checked_item.wbsr_wrapped = True
    PairedImageDataset.__getitem__ = checked_item


def training_states(states_dir: str) -> List[str]:
    """Paths of the ``<iter>.state`` files in ``states_dir``, newest iteration first."""
    if not osp.isdir(states_dir):
        return []
    iters = [int(name[:-len('.state')]) for name in os.listdir(states_dir)
             if name.endswith('.state') and name[:-len('.state')].isdigit()]
    return [osp.join(states_dir, f'{i}.state') for i in sorted(iters, reverse=True)]


def load_resume_state(opt: dict) -> Optional[dict]:
    """BasicSR's resume-state loading, on the GPU when ``num_gpu`` > 0 and on the CPU otherwise.

    With ``--auto_resume`` the newest readable state in the experiment's ``training_states``
    folder is used (recorded in ``opt['path']['resume_state']``); an unreadable one is skipped
    with a warning naming it. Else ``path.resume_state`` if set (unreadable: an error). A state holding
    Python objects a training state does not hold is an error either way, never skipped or run
    (:func:`~wbsr_basicsr.utils.checkpoints.read_training_state`). Leftovers of saves that were killed
    are removed first.
    """
    from basicsr.utils import check_resume

    from wbsr_basicsr.utils.checkpoints import ForeignObjects, read_training_state

    if opt.get('rank', 0) == 0:
        for folder in (opt['path']['training_states'], opt['path']['models']):
            for name in remove_partial(folder):
                logging.getLogger('basicsr').warning(f'Removed {osp.join(folder, name)}, left by a killed save.')
    use_gpu = opt.get('num_gpu', 0) != 0 and torch.cuda.is_available()
    device = torch.device('cuda', torch.cuda.current_device()) if use_gpu else torch.device('cpu')
    resume_state = None
    if opt['auto_resume']:
        for path in training_states(opt['path']['training_states']):
            try:
                resume_state = read_training_state(path, device)
            except ForeignObjects:
                raise
            except ValueError as error:  # truncated or damaged
                logging.getLogger('basicsr').warning(f'Skipping the unreadable training state {path}; trying the '
                                                     f'previous one ({error})')
                continue
            opt['path']['resume_state'] = path
            break
    elif opt['path'].get('resume_state'):
        resume_state = read_training_state(opt['path']['resume_state'], device)
    if resume_state is None:
        return None
    check_resume(opt, resume_state['iter'])
    opt['path']['resume_iter'] = resume_state['iter']
    return resume_state


def _with_dataset_samplers(create_train_val_dataloader: Callable) -> Callable:
    """Wrap BasicSR's loader factory: a dataset may supply its own training sampler and wrap the loader.

    The sampler is told the batch size of the loader BasicSR built (``batch_size_per_gpu``, times
    ``num_gpu`` for non-distributed multi-GPU), so that it knows the iteration of every index."""

    def create(opt: dict, logger) -> tuple:
        from basicsr.data import build_dataloader

        train_loader, train_sampler, val_loaders, total_epochs, total_iters = create_train_val_dataloader(opt, logger)
        dataset = None if train_loader is None else train_loader.dataset
        if hasattr(dataset, 'training_sampler'):
            train_sampler = dataset.training_sampler(train_sampler.num_replicas, train_sampler.rank, total_iters,
                                                     opt['path'].get('resume_iter', 0), opt.get('manual_seed') or 0,
                                                     batch_size=train_loader.batch_size)
            train_loader = build_dataloader(dataset, opt['datasets']['train'], num_gpu=opt['num_gpu'], dist=opt['dist'],
                                            sampler=train_sampler, seed=opt['manual_seed'])
            train_loader = dataset.training_batches(train_loader, train_sampler)
            logger.info(f'{type(dataset).__name__} supplies its sampler: {type(train_sampler).__name__}.')
        return train_loader, train_sampler, val_loaders, total_epochs, total_iters

    create.wbsr_wrapped = True
    return create
