"""Dynamic inference in BasicSR's validation and ``test.py``: :class:`Evaluator`, held by the models
that route a supernet (``WBSRModel``, ``ClassSRModel``).

It builds the routing from the options (``routing``, ``val.rows``, ``path``) and the checkpoint's
``wbsr`` entry, runs every row on every image of a set (one first pass for rows whose scope groups
several images), and reports per row PSNR / SSIM, FLOPs, subnet usage and time: BasicSR's metric
lines and best-metric tracking for the first row, the table of all rows, tensorboard scalars,
and in ``test.py`` a JSON next to the SR images and allocation maps.
"""
import contextlib
from dataclasses import replace
from os import path as osp
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from basicsr.metrics import calculate_metric
from basicsr.utils import get_root_logger, imwrite, tensor2img

from wbsr_basicsr.archs.slimmable import SlimmableSupernet
from wbsr_basicsr.data.hes_statistics import HESStatistics
from wbsr_basicsr.routing import Router
from wbsr_basicsr.routing.base import OneSubnet
from wbsr_basicsr.routing.calibration import Calibration
from wbsr_basicsr.routing.classsr_router import COLLAPSE_SHARE, Classifier, load_classifier
from wbsr_basicsr.routing.frontier import compare_rows
from wbsr_basicsr.routing.gradient_router import DifficultyClasses
from wbsr_basicsr.utils.allocation_map import allocation_map
from wbsr_basicsr.utils.atomic import write_json
from wbsr_basicsr.utils.options import check_keys

from .supernet_entry import LoadedRouting, RoutingGeometry, SupernetEntry
from .engine import Engine, RowResult
from .report import RowTotals, format_table
from .rows import DEFAULT_ROWS, default_ladder, parse_rows
from wbsr_basicsr.runtime.timing import device_name

ROUTING_KEYS = ('stats_file', 'num_classes', 'patch_size', 'stride', 'max_batch')
DEFAULT_MAX_BATCH = 256


@contextlib.contextmanager
def evaluating(net: nn.Module) -> Iterator[nn.Module]:
    """``net`` in eval mode for the block; its mode comes back after."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)


def statistics_thresholds(routing: Dict, geometry_stride: Optional[int]) -> DifficultyClasses:
    """Eq. 7 thresholds from ``routing.stats_file`` (``prepare_div2k.py``'s routing statistics)."""
    statistics = HESStatistics.load(routing['stats_file'], role='Routing statistics')
    patch_size = routing.get('patch_size', statistics.patch_size)
    if statistics.patch_size != patch_size:
        raise ValueError(f"Routing statistics {routing['stats_file']} are for {statistics.patch_size}-pixel LR "
                         f'patches; routing.patch_size is {patch_size}.')
    thresholds = DifficultyClasses.from_scores(statistics.scores, routing.get('num_classes', 10), patch_size,
                                               geometry_stride or RoutingGeometry().stride)
    get_root_logger().info(f"Routing thresholds from {routing['stats_file']}: {len(statistics.vectors)} training "
                           f'patches, K = {thresholds.num_classes}.')
    return thresholds


class Evaluator:
    """Every inference row of ``rows`` on every image of a set, with ``supernet``'s routing."""

    def __init__(self, opt: Dict, supernet: SlimmableSupernet, loaded: LoadedRouting, rows: Sequence[Router],
                 max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.opt, self.supernet, self.rows = opt, supernet, list(rows)
        self.data, self.geometry, self.max_batch = loaded.data, loaded.geometry, max_batch

    @classmethod
    def from_options(cls, opt: Dict, supernet: SlimmableSupernet, entry: Optional[SupernetEntry],
                     fingerprint: Callable[[], str], fixed_parameters: bool,
                     default_rows: Sequence[Dict] = DEFAULT_ROWS, classifier: Optional[Classifier] = None,
                     device: Optional[torch.device] = None) -> 'Evaluator':
        """The evaluator the options ask for. ``entry``: the ``wbsr`` entry of ``path.pretrain_network_g``
        (None: none loaded); ``fingerprint()``: the checksum of the parameters it routes;
        ``fixed_parameters``: False while the supernet trains (no calibration or classifier then,
        they name fixed parameters); ``classifier``: one given by the model, else
        ``path.pretrain_network_c``'s."""
        routing = dict(opt.get('routing') or {})
        check_keys('routing', routing, ROUTING_KEYS)
        where = opt['path'].get('pretrain_network_g') or 'network_g'
        thresholds = statistics_thresholds(routing, routing.get('stride')) if routing.get('stats_file') else None
        entry = entry or SupernetEntry(None, opt['scale'], tuple(supernet.subnets))
        if not fixed_parameters:
            entry = entry.with_calibration(None)
        loaded = entry.routing(supernet, fingerprint() if entry.calibration else '', where, routing.get('patch_size'),
                               routing.get('stride'), thresholds, device_name(device or torch.device('cpu')))
        if classifier is None and fixed_parameters and opt['path'].get('pretrain_network_c'):
            classifier = load_classifier(opt['path']['pretrain_network_c'], supernet, opt['scale'], fingerprint(),
                                         device or torch.device('cpu'))
        loaded = replace(loaded, data=loaded.data.with_item(classifier)) if classifier else loaded
        rows = parse_rows((opt.get('val') or {}).get('rows', default_rows), supernet, default_ladder(loaded.data))
        evaluator = cls(opt, supernet, loaded, rows, routing.get('max_batch', DEFAULT_MAX_BATCH))
        evaluator.check_rows(fixed_parameters)
        return evaluator

    def check_rows(self, fixed_parameters: bool) -> None:
        """Clear errors for rows that cannot be routed; the ladder in use, in the log."""
        logger = get_root_logger()
        fixed = [row.label for row in self.rows if {Calibration, Classifier} & set(row.needs())]
        if fixed and not fixed_parameters:
            raise ValueError(f'val.rows {fixed} route by a calibration or classifier of fixed parameters, which '
                             'training changes: validate them after training, with test.py on the trained checkpoint '
                             '(calibrated, or with a classifier trained on it).')
        self.engine(self.supernet).check(self.rows, 'val.rows')
        unusable = self.data.why_unusable(Calibration)
        if unusable:
            logger.warning(f'{unusable} Rows without a ladder use the full one.')
        if any(getattr(row, 'ladder', None) for row in self.rows):
            logger.info('Gradient-router rows without a ladder climb the Pareto ladder of the checkpoint\'s '
                        'calibration.' if self.data.get(Calibration) else 'Gradient-router rows without a ladder climb '
                        'every subnet (no calibration in the checkpoint; scripts/calibrate_routing.py adds one, '
                        'docs/routing.md "Ladders").')

    def engine(self, net: SlimmableSupernet) -> Engine:
        return Engine(net, self.data, self.geometry.patch_size, self.geometry.stride, self.max_batch)

    def infer(self, net: SlimmableSupernet, lq: Tensor, row: Router, subnet_ids: Optional[np.ndarray] = None,
              gt: Optional[Tensor] = None) -> RowResult:
        """One row on one ``(1, C, H, W)`` LR image (``subnet_ids``: allocated beforehand; ``gt``: for
        rows that need it), with ``net`` in eval mode."""
        with evaluating(net):
            return self.engine(net).infer(lq, row, subnet_ids, gt)

    def primary_output(self, net: SlimmableSupernet, lq: Tensor, gt: Optional[Tensor]) -> Tensor:
        """The SR image of the primary row (``val.rows[0]``), this image its whole group: what the
        model's ``test()`` shows, so that its visuals are what the table's first row reports."""
        row = self.rows[0]
        return self.infer(net, lq, row, gt=gt if row.needs_gt else None).sr

    # ------------------------------------------------------------------ a whole set

    def validate(self, model, net: SlimmableSupernet, dataloader, current_iter: int, tb_logger,
                 save_img: bool) -> None:
        """Every row on every image of ``dataloader``: metrics on the whole image, FLOPs, subnet usage,
        time; reported through ``model`` (a BasicSR model: best-metric tracking, its log)."""
        dataset_name = dataloader.dataset.opt['name']
        metric_opts = self.opt['val'].get('metrics') or {}
        full_flops = self.supernet.flops(None, (self.geometry.patch_size,) * 2)
        totals = {row.label: RowTotals(self.supernet.subnets, full_flops) for row in self.rows}
        device = next(net.parameters()).device
        with evaluating(net):
            engine = self.engine(net)
            engine.runner.prepare_all()
            allocations = engine.first_pass(
                self.rows, ((data['lq'].to(device), data['gt'].to(device) if 'gt' in data else None)
                            for data in dataloader), len(dataloader))
            images = tqdm(dataloader, unit='image', desc=f'WBSR {dataset_name}',
                          disable=not self.opt['val'].get('pbar'))
            for index, val_data in enumerate(images):
                img_name = osp.splitext(osp.basename(val_data['lq_path'][0]))[0]
                lq = val_data['lq'].to(device)
                gt_img = tensor2img([val_data['gt']]) if 'gt' in val_data else None
                for row in self.rows:
                    ids, first_pass_seconds = allocations.of(row, index)
                    gt = val_data['gt'].to(device) if row.needs_gt and 'gt' in val_data else None
                    result = engine.infer(lq, row, ids, gt)
                    result.seconds += first_pass_seconds
                    sr_img = tensor2img([result.sr.detach().cpu()])
                    scores = {name: calculate_metric({'img': sr_img, 'img2': gt_img}, dict(metric_opt))
                              for name, metric_opt in metric_opts.items()} if gt_img is not None else {}
                    totals[row.label].add(scores, result, img_name)
                    if save_img:
                        self._save_images(sr_img, result, row, dataset_name, img_name, current_iter)
        summary = [dict(row=row.label, mode=row.mode, scope=row.scope, ladder=getattr(row, 'ladder', None),
                        units=getattr(row, 'units', None), target=row.target, budget_unit=row.budget_unit,
                        **totals[row.label].summary()) for row in self.rows]
        self._report_class_shares(dataset_name, summary)
        self._report(model, dataset_name, summary, metric_opts, current_iter, tb_logger)

    def _report_class_shares(self, dataset_name: str, summary: List[Dict]) -> None:
        """Each classifier row's class shares, in the log and its summary entry; a collapse (one class
        above :data:`COLLAPSE_SHARE` of the patches under the argmax) as a warning."""
        classifier, logger = self.data.get(Classifier), get_root_logger()
        for entry in summary:
            if entry['mode'] != 'classifier':
                continue
            shares = classifier.shares(entry['usage'])
            names = classifier.class_names(self.supernet.subnets)
            entry['class_shares'] = dict(zip(names, map(float, shares)))
            entry['collapsed'] = entry['target'] is None and bool(shares.max() > COLLAPSE_SHARE)
            logger.info(f"{dataset_name} {entry['row']}: class shares "
                        + ', '.join(f'{name} {100 * share:.1f}%' for name, share in zip(names, shares)))
            if entry['collapsed']:
                logger.warning(f'ClassSR classifier collapse on {dataset_name}: class {names[int(shares.argmax())]} '
                               f'takes {100 * shares.max():.1f}% of the patches (above {100 * COLLAPSE_SHARE:.0f}%); '
                               'the other classes are almost never used (ClassSR issues #11, #22, #51). '
                               'docs/routing.md, "ClassSR", says what to try.')

    def _save_images(self, sr_img: np.ndarray, result: RowResult, row: Router, dataset_name: str,
                     img_name: str, current_iter: int) -> None:
        if self.opt['is_train']:
            stem = osp.join(self.opt['path']['visualization'], img_name, f'{img_name}_{current_iter}_{row.label}')
        else:
            stem = osp.join(self.opt['path']['visualization'], dataset_name, f'{img_name}_{row.label}')
        imwrite(sr_img, f'{stem}.png')
        if not isinstance(row, OneSubnet):
            imwrite(allocation_map(sr_img, result.layout.corners, result.subnet_ids, self.geometry.patch_size,
                                   self.opt['scale'], len(self.supernet.subnets)), f'{stem}_subnets.png')

    def _report(self, model, dataset_name: str, summary: List[Dict], metric_opts: Dict, current_iter: int,
                tb_logger) -> None:
        """BasicSR's metric lines for the primary row; the table of all rows; tensorboard; a JSON in test.
        A set without GT (LR only) has no metrics: the table shows FLOPs and time."""
        metric_names = [name for name in metric_opts if name in summary[0]]
        if metric_opts and not metric_names:
            get_root_logger().info(f'{dataset_name} has no GT images: val.metrics are not computed.')
        reference = next((name for name in metric_names if name == 'psnr'), next(iter(metric_names), None))
        if reference is not None:
            compare_rows(summary, reference)
            model._initialize_best_metric_results(dataset_name)
            model.metric_results = {name: summary[0][name] for name in metric_names}
            for name, value in model.metric_results.items():
                model._update_best_metric_result(dataset_name, name, value, current_iter)
            model._log_validation_metric_values(current_iter, dataset_name, tb_logger)
        classifier = self.data.get(Classifier) if any(Classifier in row.needs() for row in self.rows) else None
        notes = [] if classifier is None else [classifier.describe(self.supernet.subnets, self.geometry.patch_size)]
        get_root_logger().info(format_table(dataset_name, summary, metric_names, reference, self.supernet,
                                            self.geometry.patch_size, self.geometry.stride, notes))
        if tb_logger:
            for entry in summary:
                for key in (*metric_names, 'gflops', 'flops_percent', 'seconds'):
                    tb_logger.add_scalar(f"wbsr/{dataset_name}/{entry['row']}/{key}", entry[key], current_iter)
        if not self.opt['is_train']:
            write_json(osp.join(self.opt['path']['results_root'], f'wbsr_table_{dataset_name}.json'),
                       {'dataset': dataset_name, 'subnets': [list(s) for s in self.supernet.subnets],
                        'reference_metric': reference, 'rows': summary,
                        'classifier': None if classifier is None else classifier.summary(self.geometry.patch_size)})
