"""Training ClassSR's classifier on a frozen WBSR supernet: the router of Table 1's "+ClassSR" row.

As ClassSR trains its classifier with the SR branches fixed (Kong et al., CVPR 2021, Sec. 3.3),
every training LR patch runs through each class's subnet; the output is the softmax-weighted sum
of theirs, and the classifier alone learns from ``pixel_opt`` on that output plus
:class:`~wbsr_basicsr.losses.classsr_loss.ClassLoss` and
:class:`~wbsr_basicsr.losses.classsr_loss.AverageLoss` on the probabilities. Validation routes
with the classifier (:class:`~wbsr_basicsr.inference.evaluation.Evaluator`, as ``WBSRModel``'s)
and reports each class's share and a collapse.
"""
from collections import OrderedDict
from functools import cached_property
from typing import Dict

import torch
from torch import Tensor, nn

from basicsr.archs import build_network
from basicsr.losses import build_loss
from basicsr.models.sr_model import SRModel
from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import MODEL_REGISTRY

from wbsr_basicsr.archs.slimmable import SlimmableSupernet
from wbsr_basicsr.inference.evaluation import Evaluator
from wbsr_basicsr.inference.supernet_entry import SupernetEntry, fingerprint
from wbsr_basicsr.routing.classsr_router import (Classifier, class_subnets, classifier_entry, load_classifier,
                                                 with_checksums)
from wbsr_basicsr.utils.checkpoints import network_file, write_network_file
from wbsr_basicsr.utils.options import check_keys

CLASSSR_KEYS = ('subnets',)
CLASSSR_LOSSES = {'pixel_opt': None, 'class_opt': {'type': 'ClassLoss'}, 'average_opt': {'type': 'AverageLoss'}}


@MODEL_REGISTRY.register()
class ClassSRModel(SRModel):
    """ClassSR's classifier (``network_c``, a ``ClassSRClassifier``) trained on the frozen supernet of
    ``path.pretrain_network_g``. Options beyond ``SRModel``'s:

    ``classsr.subnets``: the classes, ``[[w, d], ...]`` (default every width at full depth);
    ``path.pretrain_network_c``: a classifier to continue from (``--auto_resume`` sets it);
    ``path.ignore_resume_networks: [network_g]`` (required: the frozen supernet is not saved again);
    ``train.optim_c``; ``train.pixel_opt`` (ClassSR: ``L1Loss``, weight 1000), ``train.class_opt``
    (``ClassLoss``, 0.5), ``train.average_opt`` (``AverageLoss``, 3); ``routing`` and ``val.rows``
    as ``WBSRModel``'s, the rows defaulting to the classifier's argmax and the full network.
    Saves ``net_c_<iter>.pth`` only.
    """

    default_rows = ({'mode': 'classifier'}, {'mode': 'fixed', 'subnet': 'full'})

    def __init__(self, opt: dict) -> None:
        self._check_options(opt)
        super().__init__(opt)
        self.supernet: SlimmableSupernet = self.get_bare_model(self.net_g)
        entry = SupernetEntry.read(opt['path']['pretrain_network_g'],
                                   verify=opt['path'].get('verify_checksum_g', True))
        trained = (Classifier(self.get_bare_model(self.net_c), self.class_ids, 'being trained') if self.is_train
                   else None)
        self.evaluator = Evaluator.from_options(opt, self.supernet, entry, lambda: self.supernet_fingerprint,
                                                fixed_parameters=True, default_rows=self.default_rows,
                                                classifier=trained, device=self.device)

    @staticmethod
    def _check_options(opt: dict) -> None:
        """A one-line error for the first option a ClassSR run cannot do without."""
        train = opt.get('train') or {}
        training = opt['is_train']
        required = (
            (opt['path'].get('pretrain_network_g'), 'set path.pretrain_network_g to a trained WBSR supernet '
             'checkpoint: the classifier routes its subnets, which stay frozen.'),
            (not training or opt.get('network_c'), 'set network_c, the classifier to train ({type: ClassSRClassifier, '
             'num_classes: <classes>}).'),
            (not training or train.get('optim_c'), "set train.optim_c, the classifier's optimizer (ClassSR: {type: "
             'Adam, lr: 2e-4, betas: [0.9, 0.99]}).'),
            (not training or train.get('pixel_opt'), 'set train.pixel_opt (ClassSR: {type: L1Loss, loss_weight: '
             '1000}).'),
            (not training or 'network_g' in (opt['path'].get('ignore_resume_networks') or []),
             'set path.ignore_resume_networks: [network_g]. The supernet is frozen and not saved with the classifier, '
             'so a resumed run must load it from path.pretrain_network_g.'),
            (not training or not train.get('ema_decay'), 'train.ema_decay must be 0 (the classifier keeps no EMA '
             'copy).'))
        for present, message in required:
            if not present:
                raise ValueError(f'ClassSRModel: {message}')

    @cached_property
    def supernet_fingerprint(self) -> str:
        """The checksum of the frozen supernet's parameters, computed once (every save names it)."""
        return fingerprint(self.get_bare_model(self.net_g))

    def model_to_device(self, net: nn.Module) -> nn.Module:
        """The frozen supernet is placed without DistributedDataParallel (it has nothing to train)."""
        if isinstance(net, SlimmableSupernet):
            return net.to(self.device)
        return super().model_to_device(net)

    def init_training_settings(self) -> None:
        """Freeze the supernet; build the classifier, its losses, optimizer and schedulers."""
        train_opt = self.opt['train']
        self.ema_decay = 0
        supernet: SlimmableSupernet = self.get_bare_model(self.net_g)
        supernet.requires_grad_(False).eval()
        classsr = dict(self.opt.get('classsr') or {})
        check_keys('classsr', classsr, CLASSSR_KEYS)
        self.class_ids = class_subnets(supernet, classsr.get('subnets'))
        self.net_c = self.model_to_device(build_network(self.opt['network_c']))
        self.print_network(self.net_c)
        num_classes = getattr(self.get_bare_model(self.net_c), 'num_classes', None)
        if num_classes != len(self.class_ids):
            raise ValueError(f'network_c has {num_classes} classes; classsr.subnets names {len(self.class_ids)}.')
        self._load_classifier(supernet)
        self.net_c.train()
        self.cri_pix, self.cri_class, self.cri_average = (
            build_loss(dict(train_opt.get(key) or default)).to(self.device) for key, default in CLASSSR_LOSSES.items())
        self.setup_optimizers()
        self.setup_schedulers()

    def _load_classifier(self, supernet: SlimmableSupernet) -> None:
        """Continue from ``path.pretrain_network_c`` if given, checked against this supernet."""
        path = self.opt['path'].get('pretrain_network_c')
        if not path:
            return
        loaded = load_classifier(path, supernet, self.opt['scale'], self.supernet_fingerprint, self.device)
        if loaded.subnet_ids != self.class_ids:
            raise ValueError(f'{path}: its classes are other subnets than classsr.subnets.')
        self.get_bare_model(self.net_c).load_state_dict(loaded.net.state_dict())

    def setup_optimizers(self) -> None:
        optim_opt = dict(self.opt['train']['optim_c'])
        optim_type = optim_opt.pop('type')
        self.optimizer_c = self.get_optimizer(optim_type, self.net_c.parameters(), **optim_opt)
        self.optimizers.append(self.optimizer_c)

    def optimize_parameters(self, current_iter: int) -> None:
        """One step of the classifier on ClassSR's training output, the probability-weighted sum of
        the class subnets' outputs; logs the losses and each class's mean probability
        (``classsr/p_<w>x<d>``) and share of the batch's argmax (``classsr/argmax_<w>x<d>``)."""
        self.optimizer_c.zero_grad()
        probabilities = torch.softmax(self.net_c(self.lq), dim=1)
        outputs = self._class_outputs(self.lq)
        sr = (probabilities[:, :, None, None, None] * outputs).sum(1)
        losses: Dict[str, Tensor] = OrderedDict(l_pix=self.cri_pix(sr, self.gt),
                                                l_class=self.cri_class(probabilities),
                                                l_average=self.cri_average(probabilities))
        sum(losses.values()).backward()
        self.optimizer_c.step()
        chosen = probabilities.detach().argmax(1)
        for k, name in enumerate(self.evaluator.data.get(Classifier).class_names(self.supernet.subnets)):
            losses[f'classsr/p_{name}'] = probabilities[:, k].detach().mean()
            losses[f'classsr/argmax_{name}'] = (chosen == k).float().mean()
        self.log_dict = self.reduce_loss_dict({key: value.detach() for key, value in losses.items()})

    @torch.no_grad()
    def _class_outputs(self, lq: Tensor) -> Tensor:
        """``(B, M, C, H, W)``: every class's subnet on the batch."""
        outputs = []
        for index in self.class_ids:
            with self.supernet.subnet(self.supernet.subnets[index]):
                outputs.append(self.supernet(lq))
        return torch.stack(outputs, 1)

    def save(self, epoch: int, current_iter: int) -> None:
        """The classifier's network file and the training state (the supernet is not saved again)."""
        self.save_network(self.net_c, 'net_c', current_iter)
        self.save_training_state(epoch, current_iter)

    @master_only
    def save_network(self, net, net_label: str, current_iter: int, param_key='params') -> None:
        """BasicSR's network file, written atomically, with the ``classsr`` entry naming the supernet."""
        content = network_file(self, net, param_key)
        entry = classifier_entry(self.opt['network_c'], [self.supernet.subnets[i] for i in self.class_ids],
                                 self.opt['scale'], self.supernet_fingerprint)
        content['classsr'] = with_checksums(entry, content)
        write_network_file(self.opt, net_label, current_iter, content)

    def test(self) -> None:
        """``self.output`` of the primary row (``val.rows[0]``), as ``WBSRModel.test``."""
        self.output = self.evaluator.primary_output(self.supernet, self.lq, getattr(self, 'gt', None))

    def nondist_validation(self, dataloader, current_iter: int, tb_logger, save_img: bool) -> None:
        """Every row of ``val.rows`` on every image (:meth:`Evaluator.validate`)."""
        self.evaluator.validate(self, self.supernet, dataloader, current_iter, tb_logger, save_img)
