"""The WBSR model: supernet training (Sec. 4.1) and gradient-projection dynamic inference (Sec. 4.2).

``WBSRModel`` is BasicSR's ``SRModel`` with a slimmable supernet as ``network_g``:

- training runs several subnets per iteration (:mod:`wbsr_basicsr.training.subnet_sampling`),
  with BDLoss's sigma as its own optimizer group at a constant ``train.sigma_lr``, and logs the
  HES phase and class histogram;
- validation and ``test.py`` run every row of ``val.rows`` through the inference engine
  (:class:`wbsr_basicsr.inference.evaluation.Evaluator`) and report PSNR / SSIM, FLOPs per patch,
  subnet usage and time;
- network files carry a ``wbsr`` entry next to ``params``
  (:class:`wbsr_basicsr.inference.supernet_entry.SupernetEntry`): the routing thresholds, the BDLoss
  prior and sigma, so a checkpoint alone is enough to test or resume.
"""
import contextlib
from collections import OrderedDict
from typing import Dict, Optional

import numpy as np
import torch
from torch import Tensor, distributed
from torch.nn.parallel import DistributedDataParallel

from basicsr.models.sr_model import SRModel
from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import MODEL_REGISTRY

from wbsr_basicsr.archs.slimmable import SlimmableSupernet
from wbsr_basicsr.inference.evaluation import Evaluator
from wbsr_basicsr.inference.supernet_entry import SupernetEntry, fingerprint
from wbsr_basicsr.routing.gradient_router import DifficultyClasses
from wbsr_basicsr.training.subnet_sampling import SubnetSampling
from wbsr_basicsr.utils.checkpoints import network_file, write_network_file

from .hes_sr_model import HESLogging

DEFAULT_SIGMA_LR = 1e-2  # Balanced MSE's learning rate for its noise scale


@MODEL_REGISTRY.register()
class WBSRModel(HESLogging, SRModel):
    """Supernet training and dynamic inference; options beyond ``SRModel``'s:

    ``routing``: ``stats_file`` (``routing_stats_X{s}.npz`` from ``prepare_div2k.py``; optional
    when ``pretrain_network_g`` is a WBSR checkpoint, which carries the thresholds),
    ``num_classes`` (K, 10), ``patch_size`` (the thresholds', 32), ``stride`` (the checkpoint's,
    28), ``max_batch`` (patches per forward, 256). ``train.subnet_sampling``: ``strategy`` and
    ``num_random`` (:mod:`wbsr_basicsr.training.subnet_sampling`); ``train.sigma_lr`` (1e-2).
    ``val.rows``: inference rows, the first one the primary (best-metric tracking); default
    ``ceil`` and the full network. ``path.pretrain_network_c``: a ClassSR classifier trained on
    this supernet (``ClassSRModel``), for ``classifier`` rows.
    """

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
        entry = self._read_entry()
        self.evaluator = Evaluator.from_options(opt, self.supernet, entry, lambda: fingerprint(self.inference_net()),
                                                fixed_parameters=not self.is_train, device=self.device)

    # ------------------------------------------------------------------ set-up and checkpoints

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

    def _read_entry(self) -> Optional[SupernetEntry]:
        """The ``wbsr`` entry of ``pretrain_network_g`` (None for a plain BasicSR file), its checksums
        verified unless ``path.verify_checksum_g`` is false; restores sigma."""
        path = self.opt['path'].get('pretrain_network_g')
        if not path:
            return None
        entry = SupernetEntry.read(path, verify=self.opt['path'].get('verify_checksum_g', True))
        if entry is not None and self.is_train and entry.sigma is not None and self.sigma_params:
            with torch.no_grad():
                self.cri_pix.log_sigma.fill_(float(np.log(entry.sigma)))
        return entry

    def checkpoint_entry(self) -> SupernetEntry:
        """What travels with the network: its options and scale, routing thresholds, BDLoss prior,
        likelihood and sigma, subnets (a routing calibration is added by scripts/calibrate_routing.py)."""
        loss = getattr(self, 'cri_pix', None)
        prior = getattr(loss, 'prior', None)
        return SupernetEntry(
            dict(self.opt['network_g']), self.opt['scale'], tuple(self.supernet.subnets),
            self.evaluator.data.get(DifficultyClasses), sigma=loss.sigma.item() if hasattr(loss, 'sigma') else None,
            likelihood=getattr(loss, 'likelihood', None),
            prior=None if prior is None else {'space': prior.space, 'weights': list(map(float, prior.weights)),
                                              'means': list(map(float, prior.means)),
                                              'variances': list(map(float, prior.variances))})

    @master_only
    def save_network(self, net, net_label: str, current_iter: int, param_key='params') -> None:
        """BasicSR's network file, written atomically; ``net_g``'s also holds the ``wbsr`` entry,
        with a checksum of every saved state dict."""
        content = network_file(self, net, param_key)
        if net_label == 'net_g':
            content = self.checkpoint_entry().store(content)
        write_network_file(self.opt, net_label, current_iter, content)

    # ------------------------------------------------------------------ training

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

    def test(self) -> None:
        """``self.output`` of the primary row (``val.rows[0]``) on ``self.lq``, where ``SRModel.test``
        runs the whole network, so that ``get_current_visuals`` shows what the table's first row reports."""
        self.output = self.evaluator.primary_output(self.inference_net(), self.lq, getattr(self, 'gt', None))

    def nondist_validation(self, dataloader, current_iter: int, tb_logger, save_img: bool) -> None:
        """Every row of ``val.rows`` on every image (:meth:`Evaluator.validate`)."""
        self.evaluator.validate(self, self.inference_net(), dataloader, current_iter, tb_logger, save_img)
