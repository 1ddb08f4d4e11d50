"""One schema for the option files ``train.py`` and ``test.py`` read: BasicSR 1.4.2's keys and this
plugin's, at every level (docs/training.md, "Option files").

An unknown key is an error naming the file, the key and the nearest known one, before anything
is built: BasicSR itself reads the keys it knows and ignores the rest, so a typo (``ema_decy``,
``hse``, ``rowz``) silently falls back to a default. Components chosen by ``type`` (networks,
losses, optimizers, schedulers) are checked against the parameters their class takes. Keys of
other plugins go in ``extra_keys: [dotted.key.prefix, ...]``, which the check then leaves alone.
The same pass refuses a network whose ``upscale`` is not ``scale``, and datasets whose folders or
LMDBs are missing, are one folder twice, or do not pair up (:func:`check_datasets`).
"""
import difflib
import inspect
import os
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Union

Schema = Union[Set[str], Dict[str, object], 'Each', 'Component']
ANY = frozenset()  # a leaf: its value is not checked key by key


class Each:
    """Every value of a mapping (the datasets) follows ``schema``; with ``types``, only the values whose
    ``type`` is one of them (others take keys of their own)."""

    def __init__(self, schema: Schema, types: Optional[Sequence[str]] = None) -> None:
        self.schema, self.types = schema, types


class Component:
    """A block chosen by ``type`` in a registry, its other keys the parameters of what it names (a class
    or function that takes ``**kwargs`` accepts any). ``resolve(type)`` returns it, or None.

    ``strict`` (metrics, whose functions take ``**kwargs`` only to ignore what they do not use): the
    named parameters and ``also`` are the only keys, required parameters must be given, and a
    ``type`` that ``names()`` does not list is an error here rather than at the first validation."""

    def __init__(self, resolve: Callable[[str], Optional[Callable]], skip: Sequence[str] = (), strict: bool = False,
                 also: Sequence[str] = (), names: Optional[Callable[[], Iterable[str]]] = None) -> None:
        self.resolve, self.skip, self.strict, self.also, self.names = resolve, set(skip), strict, set(also), names


def _registered(registry_name: str) -> Callable[[str], Optional[Callable]]:
    def resolve(name: str) -> Optional[Callable]:
        from basicsr.utils import registry
        store = getattr(registry, registry_name)
        return store.get(name) if name in store else None
    return resolve


def _registered_names(registry_name: str) -> Callable[[], Iterable[str]]:
    def names() -> Iterable[str]:
        from basicsr.utils import registry
        return list(getattr(registry, registry_name).keys())
    return names


def _optimizer(name: str) -> Optional[Callable]:
    import torch
    return getattr(torch.optim, name, None)


def _scheduler(name: str) -> Optional[Callable]:
    import torch
    from basicsr.models import lr_scheduler
    return getattr(lr_scheduler, name, None) or getattr(torch.optim.lr_scheduler, name, None)


def _sampler(name: str) -> Optional[Callable]:
    from wbsr_basicsr.data.sampling import SAMPLER_REGISTRY
    return SAMPLER_REGISTRY[name].Options if name in SAMPLER_REGISTRY else None


NETWORK = Component(_registered('ARCH_REGISTRY'))
LOSS = Component(_registered('LOSS_REGISTRY'))
OPTIMIZER = Component(_optimizer, skip=('params',))
SCHEDULER = Component(_scheduler, skip=('optimizer',))
METRIC = Component(_registered('METRIC_REGISTRY'), skip=('img', 'img2'), strict=True, also=('better',),
                   names=_registered_names('METRIC_REGISTRY'))


def _dataset_keys() -> Dict[str, Schema]:
    from dataclasses import fields

    from wbsr_basicsr.data.hes_paired_dataset import HESOptions
    keys = ('name', 'type', 'phase', 'scale', 'dataroot_gt', 'dataroot_lq', 'meta_info_file', 'filename_tmpl',
            'io_backend', 'gt_size', 'use_hflip', 'use_rot', 'color', 'mean', 'std', 'num_worker_per_gpu',
            'batch_size_per_gpu', 'dataset_enlarge_ratio', 'prefetch_mode', 'pin_memory', 'persistent_workers',
            'num_prefetch_queue')
    return dict(dict.fromkeys(keys, ANY), hes={field.name for field in fields(HESOptions)},
                sampler=Component(_sampler))


def _routing_keys() -> Set[str]:
    from wbsr_basicsr.inference.evaluation import ROUTING_KEYS
    return set(ROUTING_KEYS)


def _classsr_keys() -> Set[str]:
    from wbsr_basicsr.models.classsr_model import CLASSSR_KEYS
    return set(CLASSSR_KEYS)


CHECKED_DATASETS = ('PairedImageDataset', 'SingleImageDataset', 'HESPairedImageDataset')
"""Dataset types whose keys are checked (other BasicSR datasets take keys of their own)."""


def schema() -> Dict[str, Schema]:
    """The option file's schema (built on demand: it names the plugin's own option lists)."""
    return {
        'name': ANY, 'model_type': ANY, 'scale': ANY, 'num_gpu': ANY, 'manual_seed': ANY, 'is_train': ANY,
        'dist': ANY, 'rank': ANY, 'world_size': ANY, 'auto_resume': ANY, 'root_path': ANY,
        'find_unused_parameters': ANY, 'extra_keys': ANY,
        'datasets': Each(_dataset_keys(), CHECKED_DATASETS),
        'network_g': NETWORK, 'network_d': NETWORK, 'network_c': NETWORK,
        'path': {'pretrain_network_g', 'strict_load_g', 'param_key_g', 'pretrain_network_d', 'strict_load_d',
                 'param_key_d', 'pretrain_network_c', 'resume_state', 'ignore_resume_networks', 'verify_checksum_g',
                 'experiments_root', 'models', 'training_states', 'log', 'visualization', 'results_root', 'root'},
        'train': {'ema_decay': ANY, 'optim_g': OPTIMIZER, 'optim_d': OPTIMIZER, 'optim_c': OPTIMIZER,
                  'scheduler': SCHEDULER, 'total_iter': ANY, 'warmup_iter': ANY, 'pixel_opt': LOSS,
                  'perceptual_opt': LOSS, 'gan_opt': LOSS, 'ldl_opt': LOSS, 'feature_matching_opt': LOSS,
                  'class_opt': LOSS, 'average_opt': LOSS, 'net_d_iters': ANY, 'net_d_init_iters': ANY,
                  'subnet_sampling': {'strategy', 'num_random'}, 'sigma_lr': ANY},
        'val': {'val_freq': ANY, 'save_img': ANY, 'suffix': ANY, 'pbar': ANY, 'metrics': Each(METRIC), 'rows': ANY},
        'logger': {'print_freq': ANY, 'save_checkpoint_freq': ANY, 'use_tb_logger': ANY,
                   'wandb': {'project', 'resume_id'}},
        'dist_params': {'backend', 'port'},
        'routing': _routing_keys(),
        'classsr': _classsr_keys(),
    }


def unknown_keys(options: Mapping, spec: Schema, where: str, extra: Iterable[str] = ()) -> List[str]:
    """The problems of ``options`` against ``spec``: one line per unknown key, with the nearest known one."""
    extra = tuple(extra)
    if spec is ANY or options is None:
        return []
    if not isinstance(options, Mapping):
        return [f'{where}: expected a block of options (a mapping), not {options!r}']
    if isinstance(spec, Each):
        return [problem for name, value in options.items()
                if spec.types is None or (isinstance(value, Mapping) and value.get('type') in spec.types)
                for problem in unknown_keys(value, spec.schema, f'{where}.{name}', extra)]
    if isinstance(spec, Component):
        return _component_problems(options, spec, where, extra)
    known = spec if isinstance(spec, (set, frozenset)) else set(spec)
    problems = []
    for key, value in options.items():
        dotted = f'{where}.{key}' if where else str(key)
        if any(dotted == prefix or dotted.startswith(f'{prefix}.') for prefix in extra):
            continue
        if key not in known:
            problems.append(_unknown(dotted, key, known))
        elif isinstance(spec, dict):
            problems += unknown_keys(value, spec[key], dotted, extra)
    return problems


def _component_problems(options: Mapping, spec: Component, where: str, extra: Sequence[str]) -> List[str]:
    kind = options.get('type')
    target = spec.resolve(kind) if kind is not None else None
    if target is None:
        if spec.strict:  # else an unknown type is the registry's own error when BasicSR builds it
            return [_unknown(f'{where}.type', kind, spec.names(), note=f' ({kind!r} is not one of '
                             f'{", ".join(sorted(spec.names()))})', what='type')]
        return []
    parameters = {name: p for name, p in inspect.signature(target).parameters.items()
                  if name not in spec.skip and name != 'self'}
    named = {name for name, p in parameters.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    if not spec.strict and len(named) < len(parameters):
        return []
    known = named | spec.also | {'type'}
    problems = [_unknown(f'{where}.{key}', key, known, f' ({kind} takes {", ".join(sorted(known - {"type"}))})')
                for key in options if key not in known
                and not any(f'{where}.{key}' == prefix or f'{where}.{key}'.startswith(f'{prefix}.') for prefix in extra)]
    if spec.strict:
        problems += [f'{where}: {kind} needs {name}' for name, p in parameters.items()
                     if name in named and p.default is p.empty and name not in options]
    return problems


def _unknown(dotted: str, key: object, known: Iterable[str], note: str = '', what: str = 'option') -> str:
    nearest = nearest_key(str(key), known)
    hint = f' (did you mean {nearest!r}?)' if nearest else ''
    return f'unknown {what} {dotted}{hint}{note}'


def nearest_key(key: str, known: Iterable[str]) -> Optional[str]:
    """The known key fewest edits away (a swap of neighbours counts as one, as typing slips go), if it is
    close enough to be meant; ties go to the more similar one."""
    candidates = [(typing_distance(key, name), -difflib.SequenceMatcher(None, key, name).ratio(), name)
                  for name in sorted(map(str, known))]
    if not candidates:
        return None
    distance, _, name = min(candidates)
    return name if distance <= max(2, len(key) // 3) else None


def typing_distance(first: str, second: str) -> int:
    """Edits from ``first`` to ``second``: insertions, deletions, substitutions and swaps of
    neighbouring letters (the optimal-string-alignment distance)."""
    rows = [[max(i, j) if not i * j else 0 for j in range(len(second) + 1)] for i in range(len(first) + 1)]
    for i in range(1, len(first) + 1):
        for j in range(1, len(second) + 1):
            cost = first[i - 1] != second[j - 1]
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and first[i - 1] == second[j - 2] and first[i - 2] == second[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[-1][-1]


BLOCK = (Mapping, 'a block of options')
REQUIRED = {'name': (str, 'text'), 'model_type': (str, 'text'), 'num_gpu': (int, 'a number or auto'),
            'datasets': BLOCK, 'path': BLOCK}
"""The keys BasicSR's pipelines read from every option file before anything checks them: type, in words."""
REQUIRED_IN_TRAINING = {'train': BLOCK, 'logger': BLOCK}


def check_required(options: Mapping, source: str, is_train: bool) -> None:
    """``ValueError`` naming ``source`` for required keys that are missing or of the wrong type (BasicSR
    reads them unchecked: ``KeyError: 'num_gpu'``, or a ``TypeError`` deep in a path join)."""
    required = dict(REQUIRED, **(REQUIRED_IN_TRAINING if is_train else {}))
    missing = [key for key in required if options.get(key) is None]
    problems = [f'missing {", ".join(missing)} (a {"training" if is_train else "test"} option file needs '
                f'{", ".join(required)})'] if missing else []
    for key, (kind, words) in required.items():
        value = options.get(key)
        fits = isinstance(value, kind) and not isinstance(value, bool) or (key, value) == ('num_gpu', 'auto')
        if value is not None and not fits:
            problems.append(f'{key} is {value!r}, not {words}')
    if problems:
        raise ValueError(f'{source}: ' + '; '.join(problems) + '.')


def check_options(options: Mapping, source: str) -> None:
    """``ValueError`` naming ``source`` (the option file) for every unknown key, a network whose
    ``upscale`` differs from ``scale``, and datasets that cannot work (:func:`check_datasets`)."""
    problems = unknown_keys(options, schema(), '', options.get('extra_keys') or ())
    network = options.get('network_g') or {}
    if 'upscale' in network and 'scale' in options and network['upscale'] != options['scale']:
        problems.append(f"network_g.upscale is {network['upscale']} but scale is {options['scale']}: the network "
                        'would not fit the data')
    problems += _number_problems(options)
    problems += check_datasets(options.get('datasets') or {})
    problems += _sampler_problems(options)
    if problems:
        unknown = any(problem.startswith('unknown option') for problem in problems)
        raise ValueError(f'{source}: ' + '; '.join(problems) + '.' + (
            ' (Options of other plugins: list them under extra_keys.)' if unknown else ''))


NUMBERS = ('scale', 'num_gpu', 'manual_seed', 'train.total_iter', 'train.warmup_iter', 'val.val_freq',
           'logger.print_freq', 'logger.save_checkpoint_freq')
"""Options that BasicSR reads as numbers (``5e3`` and ``!!float 5e3`` both are)."""


def _number_problems(options: Mapping) -> List[str]:
    problems = []
    for dotted in NUMBERS:
        value: object = options
        for part in dotted.split('.'):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            problems.append(f'{dotted}: {value!r} is not a number' + (
                f' (YAML reads {value} as text: write !!float {value})' if _float_text(value) else ''))
    return problems


def _float_text(value: object) -> bool:
    """Whether ``value`` is text that reads as a number (``'5e3'``)."""
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


MODELS_WITH_SAMPLER_SUPPORT = ('HESSRModel',)


def _sampler_problems(options: Mapping) -> List[str]:
    """A sampler that trains with the model's help (DDA, BSPA) under a model that does not give it."""
    block = ((options.get('datasets') or {}).get('train') or {}).get('sampler')
    if not isinstance(block, Mapping):
        return []
    from wbsr_basicsr.data.sampling import SAMPLER_REGISTRY
    sampler = SAMPLER_REGISTRY.get(block.get('type', 'HES'))
    if sampler is None or not sampler.needs_model or options.get('model_type') in MODELS_WITH_SAMPLER_SUPPORT:
        return []
    return [f"datasets.train.sampler: {sampler.type} trains with the model's help, which model_type "
            f"{options.get('model_type')} does not give; use {' or '.join(MODELS_WITH_SAMPLER_SUPPORT)}"]


def check_datasets(datasets: Mapping[str, Mapping]) -> List[str]:
    """What stops a dataset of the checked types from working: a missing folder or LMDB (no
    ``meta_info.txt``), GT and LR being one place, or GT and LR folders that do not pair up."""
    problems = []
    for phase, dataset in datasets.items():
        if not isinstance(dataset, Mapping) or dataset.get('type') not in CHECKED_DATASETS:
            continue
        lmdb = (dataset.get('io_backend') or {}).get('type') == 'lmdb'
        roots = {key: dataset[key] for key in ('dataroot_gt', 'dataroot_lq') if dataset.get(key)}
        for key, root in roots.items():
            if not os.path.isdir(root):
                problems.append(f'datasets.{phase}.{key}: {root} does not exist')
            elif lmdb and not os.path.isfile(os.path.join(root, 'meta_info.txt')):
                problems.append(f'datasets.{phase}.{key}: {root} is not an LMDB made by the preparation scripts (it '
                                'has no meta_info.txt)')
        if len(roots) == 2 and os.path.realpath(roots['dataroot_gt']) == os.path.realpath(roots['dataroot_lq']):
            problems.append(f'datasets.{phase}: dataroot_lq is dataroot_gt ({roots["dataroot_gt"]})')
        elif len(roots) == 2 and not lmdb and all(os.path.isdir(root) for root in roots.values()):
            problems += _unpaired(phase, roots['dataroot_gt'], roots['dataroot_lq'],
                                  dataset.get('filename_tmpl', '{}'))
    return problems


def _unpaired(phase: str, gt_root: str, lq_root: str, template: str) -> List[str]:
    """The images of one folder without their partner in the other (BasicSR pairs ``LR name`` with
    ``template.format(GT name)``)."""
    def stems(root: str) -> Dict[str, str]:
        return {os.path.splitext(name)[0]: name for name in os.listdir(root) if not name.startswith('.')}

    gt, lq = stems(gt_root), stems(lq_root)
    expected = {template.format(stem): stem for stem in gt}
    lonely_gt = sorted(gt[stem] for name, stem in expected.items() if name not in lq)
    lonely_lq = sorted(lq[name] for name in lq if name not in expected)
    problems = []
    if lonely_gt:
        problems.append(f'datasets.{phase}: {len(lonely_gt)} GT image(s) of {gt_root} have no LR image in {lq_root} '
                        f'({", ".join(lonely_gt[:3])}{" ..." if len(lonely_gt) > 3 else ""})')
    if lonely_lq:
        problems.append(f'datasets.{phase}: {len(lonely_lq)} LR image(s) of {lq_root} have no GT image in {gt_root} '
                        f'({", ".join(lonely_lq[:3])}{" ..." if len(lonely_lq) > 3 else ""})')
    return problems
