"""The WBSR model: supernet training (Sec. 4.1) and gradient-projection dynamic inference (Sec. 4.2).

``WBSRModel`` is BasicSR's ``SRModel`` with a slimmable supernet as ``network_g``:

- training runs several subnets per iteration (:mod:`.subnet_sampling`), with BDLoss's sigma
  as its own optimizer group at a constant ``train.sigma_lr``, and logs the HES phase and class
  histogram;
- validation and ``test.py`` chop each LR image into patches, route them (:mod:`.dynamic_inference`)
  and report, for every row of ``val.rows``, PSNR / SSIM, FLOPs per patch, subnet usage and time;
- network files carry a ``wbsr`` entry next to ``params``: the routing thresholds, the BDLoss
  prior and sigma, so a checkpoint alone is enough to test or resume.
"""
import contextlib
from collections import OrderedDict
from os import path as osp
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, distributed
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from basicsr.metrics import calculate_metric
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger, imwrite, tensor2img
from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import MODEL_REGISTRY

from wbsr_basicsr.archs.slimmable import SlimmableSupernet
from wbsr_basicsr.data.hes_statistics import HESStatistics
from wbsr_basicsr.routing.calibration import Calibration
from wbsr_basicsr.routing.classsr_router import COLLAPSE_SHARE, ClassifierRouter, load_classifier
from wbsr_basicsr.routing.frontier import compare_rows
from wbsr_basicsr.routing.gradient_router import Router
from wbsr_basicsr.utils.allocation_map import allocation_map
from wbsr_basicsr.utils.atomic import write_json
from wbsr_basicsr.utils.checkpoints import (CHECKPOINT_FORMAT, CHECKPOINT_VERSION, network_file, parameter_checksums,
                                            read_checkpoint, read_wbsr_entry, state_checksum, write_network_file)
from wbsr_basicsr.utils.options import check_keys

from .dynamic_inference import (InferenceRow, Routing, RowResult, check_routing, dataset_allocations, default_ladder,
                                infer_image, parse_rows)
from .hes_sr_model import HESLogging
from .subnet_sampling import SubnetSampling

ROUTING_KEYS = ('stats_file', 'num_classes', 'patch_size', 'stride', 'max_batch')
DEFAULT_ROWS = ({'mode': 'ceil'}, {'mode': 'fixed', 'subnet': 'full'})
DEFAULT_SIGMA_LR = 1e-2  # Balanced MSE's learning rate for its noise scale


@MODEL_REGISTRY.register()
class WBSRModel(HESLogging, SRModel):
    """Supernet training and dynamic inference; options beyond ``SRModel``'s:

    ``routing``: ``stats_file`` (``routing_stats_X{s}.npz`` from ``prepare_div2k.py``; optional
    when ``pretrain_network_g`` is a WBSR checkpoint, which carries the thresholds),
    ``num_classes`` (K, 10), ``patch_size`` (32), ``stride`` (28), ``max_batch`` (patches per
    forward, 256). ``train.subnet_sampling``: ``strategy`` and ``num_random``
    (:mod:`.subnet_sampling`); ``train.sigma_lr`` (1e-2). ``val.rows``: inference rows, the
    first one the primary (best-metric tracking); default ``ceil`` and the full network.
    ``path.pretrain_network_c``: a ClassSR classifier trained on this supernet (``ClassSRModel``),
    for ``classifier`` rows.
    """

    trains_supernet = True
    default_rows: Tuple[Dict, ...] = DEFAULT_ROWS

    def __init__(self, opt: dict) -> None:
        train_opt = opt.get('train') or {}
        self.subnet_sampling = SubnetSampling.from_options(train_opt.get('subnet_sampling') or {})
        self.sigma_lr: float = train_opt.get('sigma_lr', DEFAULT_SIGMA_LR)
        super().__init__(opt)
        self.supernet: SlimmableSupernet = self.get_bare_model(self.net_g)
        if not isinstance(self.supernet, SlimmableSupernet):
            raise ValueError(f"WBSRModel needs a slimmable supernet as network_g (WBSRMSRResNet, WBSRRCAN), got "
                             f"{opt['network_g']['type']}.")
        self._init_hes_logging(opt)
        routing = dict(opt.get('routing') or {})
        check_keys('routing', routing, ROUTING_KEYS)
        self.patch_size: int = routing.get('patch_size', 32)
        self.stride: int = routing.get('stride', 28)
        self.max_batch: int = routing.get('max_batch', 256)
        extras = self._load_checkpoint_extras()
        self.router = self._build_router(routing, extras)
        calibration, unusable = self._calibration(extras)
        self.routing = Routing(self.router, calibration, self._classifier())
        self.rows: List[InferenceRow] = parse_rows((opt.get('val') or {}).get('rows', self.default_rows),
                                                   self.supernet, default_ladder(self.routing))
        self._check_rows(unusable)

    # ------------------------------------------------------------------ set-up and checkpoints

    def model_to_device(self, net: torch.nn.Module) -> torch.nn.Module:
        """BasicSR's placement, plus DistributedDataParallel on the CPU (gloo), which BasicSR lacks."""
        if self.opt['dist'] and self.device.type == 'cpu':
            return DistributedDataParallel(net.to(self.device))
        return super().model_to_device(net)

    def setup_optimizers(self) -> None:
        """``optim_g`` over the network; BDLoss's sigma as its own group (``sigma_lr``, no decay)."""
        optim_opt = dict(self.opt['train']['optim_g'])
        optim_type = optim_opt.pop('type')
        groups = [{'params': [p for p in self.net_g.parameters() if p.requires_grad]}]
        self.sigma_params = list(getattr(self.cri_pix, 'sigma_parameters', list)())
        if self.sigma_params:
            groups.append({'params': self.sigma_params, 'lr': self.sigma_lr, 'weight_decay': 0.})
        self.optimizer_g = self.get_optimizer(optim_type, groups, **optim_opt)
        self.optimizers.append(self.optimizer_g)

    def update_learning_rate(self, current_iter: int, warmup_iter: int = -1) -> None:
        """BasicSR's schedule for the network; sigma keeps ``sigma_lr`` (as in Balanced MSE)."""
        super().update_learning_rate(current_iter, warmup_iter)
        if self.sigma_params:
            self.optimizer_g.param_groups[-1]['lr'] = self.sigma_lr

    def _load_checkpoint_extras(self) -> Optional[Dict]:
        """The ``wbsr`` entry of ``pretrain_network_g`` (None for a plain BasicSR file), its checksums
        verified unless ``path.verify_checksum_g`` is false; restores sigma."""
        path = self.opt['path'].get('pretrain_network_g')
        if not path:
            return None
        extras = read_wbsr_entry(path, read_checkpoint(path), self.opt['path'].get('verify_checksum_g', True))
        if extras is None:
            return None
        if self.is_train and extras.get('sigma') is not None and self.sigma_params:
            with torch.no_grad():
                self.cri_pix.log_sigma.fill_(float(np.log(extras['sigma'])))
        return extras

    def _build_router(self, routing: Dict, extras: Optional[Dict]) -> Optional[Router]:
        """Thresholds from ``routing.stats_file`` if given, else from the loaded checkpoint."""
        logger = get_root_logger()
        if routing.get('stats_file'):
            statistics = HESStatistics.load(routing['stats_file'], role='Routing statistics')
            if statistics.patch_size != self.patch_size:
                raise ValueError(f"Routing statistics {routing['stats_file']} are for {statistics.patch_size}-pixel LR "
                                 f'patches; routing.patch_size is {self.patch_size}.')
            router = Router.from_scores(statistics.scores, routing.get('num_classes', 10), self.patch_size,
                                        self.stride)
            logger.info(f"Routing thresholds from {routing['stats_file']}: {len(statistics.vectors)} training patches, "
                        f'K = {router.num_classes}.')
            return router
        if extras is not None and extras.get('router') is not None:
            router = Router.from_dict(extras['router'])
            if router.patch_size != self.patch_size:
                raise ValueError(f"{self.opt['path']['pretrain_network_g']}: its routing thresholds are for "
                                 f'{router.patch_size}-pixel patches; routing.patch_size is {self.patch_size}.')
            return Router(router.thresholds, router.class_counts, router.patch_size, self.stride)
        return None

    def _changes_supernet(self) -> bool:
        return self.is_train and self.trains_supernet

    def supernet_fingerprint(self) -> str:
        """The checksum of the inference network's parameters, which calibrations and classifiers name."""
        return state_checksum(self.inference_net().state_dict())

    def _calibration(self, extras: Optional[Dict]) -> Tuple[Optional[Calibration], Optional[str]]:
        """The routing calibration stored in ``pretrain_network_g`` if it was measured on exactly the
        loaded parameters, else why not. Training the supernet changes them: it uses none."""
        if self._changes_supernet() or extras is None or not extras.get('calibration'):
            return None, None
        calibration = Calibration.from_dict(extras['calibration'])
        try:
            calibration.check(self.supernet.subnets, self.opt['scale'], self.patch_size, self.supernet_fingerprint(),
                              self.opt['path']['pretrain_network_g'])
        except ValueError as error:
            get_root_logger().warning(f'{error} Rows without a ladder use the full one.')
            return None, str(error)
        return calibration, None

    def _classifier(self) -> Optional[ClassifierRouter]:
        """The ClassSR classifier of ``path.pretrain_network_c``, checked against the loaded supernet
        (none while the supernet trains)."""
        path = self.opt['path'].get('pretrain_network_c')
        if not path or self._changes_supernet():
            return None
        return load_classifier(path, self.supernet, self.opt['scale'], self.supernet_fingerprint(), self.device)

    def _check_rows(self, unusable: Optional[str]) -> None:
        """Clear errors for rows this model cannot route; the ladder in use, in the log."""
        fixed = [row.label for row in self.rows if row.needs_calibration or row.needs_classifier]
        if fixed and self._changes_supernet():
            raise ValueError(f'val.rows {fixed} route by a calibration or classifier of fixed parameters, which '
                             'training changes: validate them after training, with test.py on the trained checkpoint '
                             '(calibrated, or with a classifier trained on it).')
        labels = [row.label for row in self.rows if row.needs_calibration]
        if labels and unusable:
            raise ValueError(unusable)
        check_routing(self.rows, self.routing, 'val.rows')
        if any(row.ladder for row in self.rows):
            get_root_logger().info(
                'Gradient-router rows without a ladder climb the Pareto ladder of the checkpoint\'s calibration.'
                if self.routing.calibration else 'Gradient-router rows without a ladder climb every subnet (no '
                'calibration in the checkpoint; scripts/calibrate_routing.py adds one, docs/routing.md "Ladders").')

    def checkpoint_extras(self) -> Dict:
        """What travels with the network: its options and scale, routing thresholds, BDLoss prior,
        likelihood and sigma, subnets (a routing calibration is added by scripts/calibrate_routing.py)."""
        loss = getattr(self, 'cri_pix', None)
        prior = getattr(loss, 'prior', None)
        return {
            'format': CHECKPOINT_FORMAT,
            'version': CHECKPOINT_VERSION,
            'network': dict(self.opt['network_g']),
            'scale': self.opt['scale'],
            'router': None if self.router is None else self.router.to_dict(),
            'subnets': [list(s) for s in self.supernet.subnets],
            'sigma': loss.sigma.item() if hasattr(loss, 'sigma') else None,
            'likelihood': getattr(loss, 'likelihood', None),
            'prior': None if prior is None else {'space': prior.space, 'weights': list(map(float, prior.weights)),
                                                 'means': list(map(float, prior.means)),
                                                 'variances': list(map(float, prior.variances))},
        }

    @master_only
    def save_network(self, net, net_label: str, current_iter: int, param_key='params') -> None:
        """BasicSR's network file, written atomically; ``net_g``'s also holds the ``wbsr`` entry,
        with a checksum of every saved state dict."""
        content = network_file(self, net, param_key)
        if net_label == 'net_g':
            content['wbsr'] = dict(self.checkpoint_extras(), checksums=parameter_checksums(content))
        write_network_file(self.opt, net_label, current_iter, content)

    # ------------------------------------------------------------------ training

    def feed_data(self, data: dict) -> None:
        super().feed_data(data)
        self._remember_hes_batch(data)

    def optimize_parameters(self, current_iter: int) -> None:
        """One iteration: forward and backward each planned subnet, average gradients across ranks, step.

        The log has the full network's losses under SRModel's names (``l_pix``; absent in an
        iteration that does not train it), what the step minimised as ``l_pix_sum``, and
        BDLoss's scale as ``bdloss/sigma``."""
        self.optimizer_g.zero_grad()
        classes = None if self._hes_batch is None else self._hes_batch['class']
        steps = self.subnet_sampling.plan(current_iter, self.opt.get('manual_seed') or 0, len(self.supernet.subnets),
                                          classes, self._hes_num_classes)
        full = len(self.supernet.subnets) - 1
        losses: Dict[str, Tensor] = OrderedDict()
        sync_off = self.net_g.no_sync() if isinstance(self.net_g, DistributedDataParallel) else contextlib.nullcontext()
        with sync_off:
            for index, rows, weight in steps:
                lq, gt = (self.lq, self.gt) if rows is None else (self.lq[rows], self.gt[rows])
                with self.supernet.subnet(self.supernet.subnets[index]):
                    output = self.net_g(lq)
                terms = self._loss_terms(output, gt)
                (weight * sum(terms.values())).backward()
                for name, value in terms.items():
                    losses[f'{name}_sum'] = losses.get(f'{name}_sum', 0) + weight * value.detach()
                    if index == full and rows is None:
                        losses[name] = value.detach()
        self._average_gradients()
        self.optimizer_g.step()
        self.log_dict = self.reduce_loss_dict(losses)
        if self.sigma_params:
            self.log_dict['bdloss/sigma'] = self.cri_pix.sigma.item()
        self._log_hes(current_iter)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    def _loss_terms(self, output: Tensor, gt: Tensor) -> Dict[str, Tensor]:
        """SRModel's pixel and perceptual losses of one subnet's output."""
        terms: Dict[str, Tensor] = OrderedDict()
        if self.cri_pix:
            terms['l_pix'] = self.cri_pix(output, gt)
        if self.cri_perceptual:
            percep, style = self.cri_perceptual(output, gt)
            for name, value in (('l_percep', percep), ('l_style', style)):
                if value is not None:
                    terms[name] = value
        return terms

    def _average_gradients(self) -> None:
        """All-reduce the gradients of every rank's subnets (DDP's own sync is off: ranks may train
        different subnets). A parameter no rank used keeps no gradient, as on one process."""
        if not self.opt['dist']:
            return
        params = [p for group in self.optimizer_g.param_groups for p in group['params']]
        used = torch.tensor([float(p.grad is not None) for p in params], device=self.device)
        distributed.all_reduce(used)
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch._utils._flatten_dense_tensors(grads)
        distributed.all_reduce(flat)
        flat /= self.opt['world_size']
        for param, grad, count in zip(params, torch._utils._unflatten_dense_tensors(flat, grads), used.tolist()):
            param.grad = grad if count > 0 else None

    # ------------------------------------------------------------------ dynamic inference

    def inference_net(self) -> SlimmableSupernet:
        """The EMA network when there is one (as ``SRModel.test``), else the trained one."""
        return self.net_g_ema if hasattr(self, 'net_g_ema') else self.supernet

    @contextlib.contextmanager
    def _evaluating(self) -> Iterator[SlimmableSupernet]:
        """The inference network in eval mode for the block; its mode comes back after."""
        net = self.inference_net()
        was_training = net.training
        net.eval()
        try:
            yield net
        finally:
            net.train(was_training)

    def infer(self, lq: Tensor, row: InferenceRow, subnet_ids: Optional[np.ndarray] = None,
              gt: Optional[Tensor] = None) -> RowResult:
        """Run one inference row on one ``(1, C, H, W)`` LR image (``subnet_ids``: allocated beforehand;
        ``gt``: for oracle rows)."""
        with self._evaluating() as net:
            return infer_image(net, lq, row, self.routing, self.patch_size, self.stride, self.max_batch, subnet_ids,
                               gt)

    def test(self) -> None:
        """``self.output`` of the primary row (``val.rows[0]``) on ``self.lq``, where ``SRModel.test``
        runs the whole network; a ``dataset``-scope row takes this one image as its set. So
        ``get_current_visuals`` shows what the table's first row reports."""
        row = self.rows[0]
        gt = getattr(self, 'gt', None) if row.needs_gt else None
        ids = None
        if row.scope == 'dataset':
            ids = self._allocations([(self.lq, gt)], [row])[row.label][0][0]
        self.output = self.infer(self.lq, row, ids, gt).sr

    def _allocations(self, pairs: Iterable[Tuple[Tensor, Optional[Tensor]]],
                     rows: List[InferenceRow]) -> Dict[str, Tuple[List[np.ndarray], float]]:
        """For ``dataset``-scope ``rows``: each image's subnets, allocated over all ``(lq, gt)`` pairs in
        one first pass, and that pass's seconds per image (added to the row's time)."""
        with self._evaluating() as net:
            return dataset_allocations(pairs, rows, net, self.routing, self.patch_size, self.stride, self.max_batch)

    def _dataset_allocations(self, dataloader) -> Dict[str, Tuple[List[np.ndarray], float]]:
        rows = [row for row in self.rows if row.scope == 'dataset']
        if not rows:
            return {}
        return self._allocations(((data['lq'].to(self.device), data['gt'].to(self.device) if 'gt' in data else None)
                                  for data in dataloader), rows)

    def nondist_validation(self, dataloader, current_iter: int, tb_logger, save_img: bool) -> None:
        """Every row on every image: metrics on the whole image, FLOPs, subnet usage, time."""
        dataset_name = dataloader.dataset.opt['name']
        metric_opts = self.opt['val'].get('metrics') or {}
        full_flops = self.supernet.flops(None, (self.patch_size, self.patch_size))
        totals = {row.label: RowTotals(len(self.supernet.subnets), full_flops) for row in self.rows}
        allocations = self._dataset_allocations(dataloader)
        images = tqdm(dataloader, unit='image', desc=f'WBSR {dataset_name}', disable=not self.opt['val'].get('pbar'))
        for index, val_data in enumerate(images):
            img_name = osp.splitext(osp.basename(val_data['lq_path'][0]))[0]
            lq = val_data['lq'].to(self.device)
            gt_img = tensor2img([val_data['gt']]) if 'gt' in val_data else None
            for row in self.rows:
                ids, first_pass_seconds = allocations.get(row.label, (None, 0.))
                gt = val_data['gt'].to(self.device) if row.needs_gt and 'gt' in val_data else None
                result = self.infer(lq, row, None if ids is None else ids[index], gt)
                result.seconds += first_pass_seconds
                sr_img = tensor2img([result.sr.detach().cpu()])
                scores = {name: calculate_metric({'img': sr_img, 'img2': gt_img}, dict(metric_opt))
                          for name, metric_opt in metric_opts.items()} if gt_img is not None else {}
                totals[row.label].add(scores, result, img_name)
                if save_img:
                    self._save_images(sr_img, result, row, dataset_name, img_name, current_iter)
        summary = [dict(row=row.label, mode=row.mode, scope=row.scope, ladder=row.ladder, target=row.target,
                        **totals[row.label].summary()) for row in self.rows]
        self._report_class_shares(dataset_name, summary)
        self._report(dataset_name, summary, metric_opts, current_iter, tb_logger)

    def _report_class_shares(self, dataset_name: str, summary: List[Dict]) -> None:
        """Each classifier row's class shares, in the log and its summary entry; a collapse (one class
        above :data:`COLLAPSE_SHARE` of the patches under the argmax) as a warning."""
        classifier, logger = self.routing.classifier, get_root_logger()
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

    def _save_images(self, sr_img: np.ndarray, result: RowResult, row: InferenceRow, dataset_name: str,
                     img_name: str, current_iter: int) -> None:
        if self.opt['is_train']:
            stem = osp.join(self.opt['path']['visualization'], img_name, f'{img_name}_{current_iter}_{row.label}')
        else:
            stem = osp.join(self.opt['path']['visualization'], dataset_name, f'{img_name}_{row.label}')
        imwrite(sr_img, f'{stem}.png')
        if row.mode != 'fixed':
            imwrite(allocation_map(sr_img, result.layout.corners, result.subnet_ids, self.patch_size,
                                   self.opt['scale'], len(self.supernet.subnets)), f'{stem}_subnets.png')

    def _report(self, dataset_name: str, summary: List[Dict], metric_opts: Dict, current_iter: int,
                tb_logger) -> None:
        """BasicSR's metric lines for the primary row; the table of all rows; tensorboard; a JSON in test.
        A set without GT (LR only) has no metrics: the table shows FLOPs and time."""
        metric_names = [name for name in metric_opts if name in summary[0]]
        if metric_opts and not metric_names:
            get_root_logger().info(f'{dataset_name} has no GT images: val.metrics are not computed.')
        reference = next((name for name in metric_names if name == 'psnr'), next(iter(metric_names), None))
        if reference is not None:
            compare_rows(summary, reference)
            self._initialize_best_metric_results(dataset_name)
            self.metric_results = {name: summary[0][name] for name in metric_names}
            for name, value in self.metric_results.items():
                self._update_best_metric_result(dataset_name, name, value, current_iter)
            self._log_validation_metric_values(current_iter, dataset_name, tb_logger)
        classifier = self.routing.classifier if any(row.needs_classifier for row in self.rows) else None
        notes = [] if classifier is None else [classifier.describe(self.supernet.subnets, self.patch_size)]
        get_root_logger().info(format_table(dataset_name, summary, metric_names, reference, self.supernet,
                                            self.patch_size, self.stride, notes))
        if tb_logger:
            for entry in summary:
                for key in (*metric_names, 'gflops', 'flops_percent', 'seconds'):
                    tb_logger.add_scalar(f"wbsr/{dataset_name}/{entry['row']}/{key}", entry[key], current_iter)
        if not self.opt['is_train']:
            write_json(osp.join(self.opt['path']['results_root'], f'wbsr_table_{dataset_name}.json'),
                       {'dataset': dataset_name, 'subnets': [list(s) for s in self.supernet.subnets],
                        'reference_metric': reference, 'rows': summary,
                        'classifier': None if classifier is None else classifier.summary(self.patch_size)})


class RowTotals:
    """Running sums of one inference row over a dataset."""

    def __init__(self, num_subnets: int, full_flops: float) -> None:
        self.full_flops = full_flops
        self.images = 0
        self.metrics: Dict[str, float] = {}
        self.flops = 0.
        self.router_flops = 0.
        self.patches = 0
        self.seconds = 0.
        self.usage = np.zeros(num_subnets, dtype=np.int64)
        self.per_image: List[Dict] = []

    def add(self, scores: Dict[str, float], result: RowResult, image: str) -> None:
        self.images += 1
        self.per_image.append(dict(image=image, **{name: float(value) for name, value in scores.items()},
                                   flops_percent=100. * result.flops_per_patch / self.full_flops,
                                   patches=len(result.subnet_ids), seconds=result.seconds))
        for name, value in scores.items():
            self.metrics[name] = self.metrics.get(name, 0.) + float(value)
        count = len(result.subnet_ids)
        self.patches += count
        self.flops += result.flops_per_patch * count
        self.router_flops += result.router_flops_per_patch * count
        self.seconds += result.seconds
        self.usage += np.bincount(result.subnet_ids, minlength=len(self.usage))

    def summary(self) -> Dict:
        """Image-averaged metrics and time; patch-averaged FLOPs (the paper's convention) and usage;
        each image's own figures under ``per_image``."""
        flops = self.flops / self.patches
        return dict({name: value / self.images for name, value in self.metrics.items()},
                    gflops=flops / 1e9, flops_percent=100. * flops / self.full_flops,
                    router_gflops=self.router_flops / self.patches / 1e9, seconds=self.seconds / self.images,
                    usage=(self.usage / self.patches).tolist(), patches=self.patches, images=self.images,
                    per_image=self.per_image)


def format_table(dataset_name: str, summary: List[Dict], metric_names: List[str], reference: Optional[str],
                 net: SlimmableSupernet, patch_size: int, stride: int, notes: Sequence[str] = ()) -> str:
    """The per-dataset table: one line per inference row; routed rows also show their ``reference``
    metric against the fixed subnets' frontier and the oracle at the same FLOPs. ``notes``: lines
    under the heading (the classifier's size)."""
    subnets = ' '.join(f'{w}x{d}' for w, d in net.subnets)
    lines = [f'WBSR {dataset_name}: {summary[0]["images"]} images, {patch_size}x{patch_size} LR patches every '
             f'{stride} px; FLOPs per patch (router apart), % of the full network; usage = % of patches per subnet '
             f'({subnets})', *notes]
    if reference is not None:
        lines.append(f'vs fixed / vs oracle: {reference} minus the fixed subnets\' frontier / the oracle at the '
                     "row's FLOPs (docs/routing.md, \"Tables\")")
    header = f"{'row':<26}" + ''.join(f'{name:>9}' for name in metric_names) + \
        f"{'GFLOPs':>9}{'%full':>7}{'router G':>10}{'s/img':>8}{'vs fixed':>9}{'vs oracle':>10}  usage"
    lines.append(header)
    for entry in summary:
        metrics = ''.join(f'{entry[name]:>9.4f}' for name in metric_names)
        versus = ''.join(f'{value:>{width}.3f}' if value is not None else f'{"-":>{width}}'
                         for value, width in ((entry.get('vs_fixed'), 9), (entry.get('vs_oracle'), 10)))
        usage = ' '.join(f'{100 * u:3.0f}' for u in entry['usage'])
        lines.append(f"{entry['row']:<26}{metrics}{entry['gflops']:>9.3f}{entry['flops_percent']:>7.1f}"
                     f"{entry['router_gflops']:>10.5f}{entry['seconds']:>8.3f}{versus}  {usage}")
    return '\n'.join(lines)
