"""ClassSR's router on a WBSR supernet: its classifier and losses, the classifier trained through
train_pipeline on the frozen supernet and routing in test_pipeline, resume, the budget, the
collapse report and the errors for a classifier that does not match the supernet."""
import json

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import basicsr.test
import basicsr.train
from conftest import NETWORK, PSNR, SCALE, newest_log, paired_dataset
from wbsr_basicsr.archs.classsr_classifier_arch import ClassSRClassifier
from wbsr_basicsr.losses.classsr_loss import AverageLoss, ClassLoss
from wbsr_basicsr.routing.classsr_router import Classifier, with_checksums

CLASSES = [[8, 2], [16, 2]]  # the default: every width of the tiny supernet at full depth


def test_class_and_average_losses_take_their_extremes():
    sure = torch.tensor([[1., 0., 0.], [0., 0., 1.], [0., 1., 0.]])
    uniform = torch.full((3, 3), 1 / 3)
    assert ClassLoss(loss_weight=1.)(sure).item() == pytest.approx(0.)
    assert ClassLoss(loss_weight=1.)(uniform).item() == pytest.approx(2.)  # (M - 1) - 0
    assert AverageLoss(loss_weight=1.)(sure).item() == pytest.approx(0.)  # one patch per class
    collapsed = torch.tensor([[1., 0., 0.]] * 3)
    assert AverageLoss(loss_weight=1.)(collapsed).item() == pytest.approx(1.)  # (2 + 1 + 1) / (4 * 1)
    assert AverageLoss(loss_weight=3.)(collapsed).item() == pytest.approx(3.)
    with pytest.raises(ValueError, match='class probabilities'):
        ClassLoss()(torch.ones(4))


def test_classifier_shape_flops_and_budgeted_allocation():
    torch.manual_seed(0)
    net = ClassSRClassifier(num_classes=3)
    assert net(torch.rand(5, 3, 32, 32)).shape == (5, 3)
    with FlopCounterMode(display=False) as counter:
        net(torch.rand(1, 3, 32, 32))
    assert net.flops(32, 32) == counter.get_total_flops()
    patches = torch.rand(64, 3, 32, 32)
    assert net(patches).std(0).min() > 1e-3  # the default initialisation sees its input
    assert ClassSRClassifier(init_scale=0.1)(patches).std(0).max() < 1e-5  # ClassSR's starts input-blind

    router = Classifier(net, (0, 2, 3), 'test')
    costs = np.array([1., 2., 3., 4.])
    logits = np.random.default_rng(0).normal(size=(400, 3))
    assert np.array_equal(router.allocate(logits, costs, None), np.array([0, 2, 3])[logits.argmax(1)])
    spent = [costs[router.allocate(logits, costs, target)].mean() / 4 for target in (0.4, 0.6, 0.8)]
    assert spent == pytest.approx([0.4, 0.6, 0.8], abs=0.01)
    assert router.allocate(logits, costs, 0.1).tolist() == [0] * 400  # below the cheapest class: all of it
    # per-class offsets: a patch moved to a dearer class at a higher target never moves back
    low, high = router.allocate(logits, costs, 0.5), router.allocate(logits, costs, 0.7)
    assert np.all(costs[high] >= costs[low])


def classsr_train_options(prepared, val_pairs, supernet, total_iter: int, name: str) -> dict:
    train = dict(name='mini_div2k', type='PairedImageDataset', dataroot_gt=str(prepared / 'DIV2K_train_HR_sub.lmdb'),
                 dataroot_lq=str(prepared / f'DIV2K_train_LR_bicubic_X{SCALE}_sub.lmdb'), io_backend=dict(type='lmdb'),
                 gt_size=64, use_hflip=True, use_rot=True, num_worker_per_gpu=0, batch_size_per_gpu=4,
                 dataset_enlarge_ratio=10, prefetch_mode=None)
    return dict(
        name=name, model_type='ClassSRModel', scale=SCALE, num_gpu=0, manual_seed=0,
        datasets=dict(train=train, val=paired_dataset('tiny_val', *val_pairs)),
        network_g=NETWORK, network_c=dict(type='ClassSRClassifier', num_classes=2),
        classsr=dict(subnets=CLASSES), routing=dict(patch_size=32, stride=28),
        path=dict(pretrain_network_g=str(supernet), param_key_g='params', strict_load_g=True, resume_state=None,
                  ignore_resume_networks=['network_g']),
        train=dict(ema_decay=0, optim_c=dict(type='Adam', lr=1e-3, betas=[0.9, 0.99]),
                   scheduler=dict(type='MultiStepLR', milestones=[100], gamma=0.5), total_iter=total_iter,
                   warmup_iter=-1, pixel_opt=dict(type='L1Loss', loss_weight=1000.),
                   class_opt=dict(type='ClassLoss', loss_weight=0.5), average_opt=dict(type='AverageLoss',
                                                                                       loss_weight=3.)),
        val=dict(val_freq=2, save_img=False, metrics=dict(psnr=PSNR)),
        logger=dict(print_freq=1, save_checkpoint_freq=2, use_tb_logger=False),
    )


def table1_options(name: str, supernet, classifier, val_pairs, rows=None) -> dict:
    rows = rows or [dict(mode='classifier'), dict(mode='classifier', target=0.6),
                    dict(mode='target_flops', target=0.6, ladder='full'), dict(mode='oracle', target=0.6),
                    dict(mode='fixed', subnet='all')]
    return dict(name=name, model_type='WBSRModel', scale=SCALE, num_gpu=0, manual_seed=0,
                datasets=dict(test_1=paired_dataset('heldout', *val_pairs)), network_g=NETWORK,
                routing=dict(patch_size=32, stride=28),
                path=dict(pretrain_network_g=str(supernet), strict_load_g=True, param_key_g='params',
                          pretrain_network_c=str(classifier)),
                val=dict(save_img=False, rows=rows, metrics=dict(psnr=PSNR)))


def test_train_the_classifier_on_the_frozen_supernet_resume_and_route_in_test_py(
        tmp_path, mini_div2k_x2, tiny_pairs, trained_wbsr, run_pipeline, monkeypatch):
    monkeypatch.chdir(tmp_path)
    supernet_before = torch.load(trained_wbsr, weights_only=True)['params']
    run_pipeline(basicsr.train.train_pipeline, tmp_path,
                 classsr_train_options(mini_div2k_x2, tiny_pairs, trained_wbsr, 2, 'classsr_tiny'))
    experiment = tmp_path / 'experiments' / 'classsr_tiny'
    log = newest_log(experiment, 'train_classsr_tiny')
    assert 'l_class' in log and 'l_average' in log and 'classsr/argmax_8x2' in log and 'classsr/p_16x2' in log
    assert 'classifier: class shares 8x2' in log and 'ClassSR classifier (being trained)' in log
    assert sorted(path.name for path in (experiment / 'models').iterdir()) == ['net_c_2.pth', 'net_c_latest.pth']
    saved = torch.load(experiment / 'models' / 'net_c_latest.pth', weights_only=True)
    assert saved['classsr']['subnets'] == CLASSES and saved['classsr']['scale'] == SCALE
    assert set(saved['params']) == set(ClassSRClassifier(num_classes=2).state_dict())

    # --auto_resume continues from iteration 2 with the same frozen supernet and the saved classifier
    run_pipeline(basicsr.train.train_pipeline, tmp_path,
                 classsr_train_options(mini_div2k_x2, tiny_pairs, trained_wbsr, 4, 'classsr_tiny'), '--auto_resume')
    log = newest_log(experiment, 'train_classsr_tiny')
    assert 'Resuming training from epoch: 0, iter: 2' in log and 'net_c_2.pth' in log
    assert (experiment / 'models' / 'net_c_4.pth').is_file()
    after = torch.load(trained_wbsr, weights_only=True)['params']
    assert all(torch.equal(supernet_before[key], after[key]) for key in after)  # never written
    classifier = experiment / 'models' / 'net_c_latest.pth'
    assert not torch.equal(torch.load(classifier, weights_only=True)['params']['head.weight'],
                           saved['params']['head.weight'])  # it trained

    run_pipeline(basicsr.test.test_pipeline, tmp_path, table1_options('classsr_table1', trained_wbsr, classifier,
                                                                      tiny_pairs))
    table = json.loads((tmp_path / 'results' / 'classsr_table1' / 'wbsr_table_heldout.json').read_text())
    rows = {row['row']: row for row in table['rows']}
    assert list(rows) == ['classifier', 'classifier_0.6_dataset', 'target_0.6_dataset', 'oracle_0.6_dataset',
                          'fixed_8x1', 'fixed_8x2', 'fixed_16x1', 'fixed_16x2']
    net = ClassSRClassifier(num_classes=2)
    assert table['classifier']['parameters'] == sum(p.numel() for p in net.parameters())
    assert rows['classifier']['router_gflops'] * 1e9 == pytest.approx(net.flops(32, 32))
    for label in ('classifier', 'classifier_0.6_dataset'):
        used = {i for i, share in enumerate(rows[label]['usage']) if share > 0}
        assert used <= {1, 3} and 'psnr' in rows[label] and 'vs_fixed' in rows[label]
        assert sum(rows[label]['class_shares'].values()) == pytest.approx(1.)
    assert rows['classifier_0.6_dataset']['flops_percent'] == pytest.approx(60., abs=3.)


def test_a_collapsed_classifier_is_reported_and_a_foreign_one_refused(tmp_path, tiny_pairs, trained_wbsr,
                                                                      run_pipeline, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from wbsr_basicsr.routing.classsr_router import classifier_entry
    from wbsr_basicsr.utils.checkpoints import state_checksum
    supernet = torch.load(trained_wbsr, weights_only=True)
    net = ClassSRClassifier(num_classes=2)
    with torch.no_grad():
        net.head.bias.copy_(torch.tensor([0., 50.]))  # every patch to the full network's class
    content = {'params': net.state_dict()}
    entry = classifier_entry(dict(type='ClassSRClassifier', num_classes=2), [tuple(c) for c in CLASSES], SCALE,
                             state_checksum(supernet['params']))
    content['classsr'] = with_checksums(entry, content)
    collapsed = tmp_path / 'collapsed.pth'
    torch.save(content, collapsed)
    run_pipeline(basicsr.test.test_pipeline, tmp_path, table1_options(
        'classsr_collapsed', trained_wbsr, collapsed, tiny_pairs, [dict(mode='classifier')]))
    log = newest_log(tmp_path / 'results' / 'classsr_collapsed', 'test_classsr_collapsed')
    assert 'ClassSR classifier collapse on heldout: class 16x2 takes 100.0% of the patches' in log
    table = json.loads((tmp_path / 'results' / 'classsr_collapsed' / 'wbsr_table_heldout.json').read_text())
    assert table['rows'][0]['collapsed'] is True

    # the same classifier on the supernet's EMA parameters: other parameters, refused
    options = table1_options('classsr_foreign', trained_wbsr, collapsed, tiny_pairs, [dict(mode='classifier')])
    options['path']['param_key_g'] = 'params_ema'
    with pytest.raises(ValueError, match=r'collapsed.pth: this classifier was trained on another supernet: parameters '
                                         r'\(their checksum differs\). Train one on this supernet: python '
                                         r'wbsr_basicsr/train.py'):
        run_pipeline(basicsr.test.test_pipeline, tmp_path, options)
    options['name'] = 'classsr_not_a_classifier'  # one name per run: BasicSR archives a folder of the same name
    options['path'].update(param_key_g='params', pretrain_network_c=str(trained_wbsr))
    with pytest.raises(ValueError, match="not a ClassSR classifier .* no 'classsr' entry"):
        run_pipeline(basicsr.test.test_pipeline, tmp_path, options)
    options['name'] = 'classsr_no_classifier'
    options['path'].pop('pretrain_network_c')
    with pytest.raises(ValueError, match=r"rows \['classifier'\] need a ClassSR classifier trained on this supernet"):
        run_pipeline(basicsr.test.test_pipeline, tmp_path, options)


def test_classsr_training_options_are_checked(tmp_path, mini_div2k_x2, tiny_pairs, trained_wbsr, run_pipeline,
                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    cases = [(('path', 'ignore_resume_networks'), 'set path.ignore_resume_networks: \\[network_g\\]'),
             ((None, 'network_c'), 'set network_c'), (('train', 'optim_c'), 'set train.optim_c'),
             (('path', 'pretrain_network_g'), 'set path.pretrain_network_g'),
             (('train', 'pixel_opt'), 'set train.pixel_opt')]
    for index, ((section, key), message) in enumerate(cases):
        options = classsr_train_options(mini_div2k_x2, tiny_pairs, trained_wbsr, 1, f'classsr_bad_{index}')
        (options[section] if section else options).pop(key)
        with pytest.raises(ValueError, match=message):
            run_pipeline(basicsr.train.train_pipeline, tmp_path, options)
    options = classsr_train_options(mini_div2k_x2, tiny_pairs, trained_wbsr, 1, 'classsr_bad_classes')
    options['classsr'] = dict(subnets=[[8, 2], [16, 2], [16, 1]])
    with pytest.raises(ValueError, match='network_c has 2 classes; classsr.subnets names 3'):
        run_pipeline(basicsr.train.train_pipeline, tmp_path, options)
    options['classsr'] = dict(subnet=CLASSES)
    with pytest.raises(ValueError, match=r"classsr_bad_classes.yml: unknown option classsr.subnet \(did you mean "
                                         r"'subnets'\?\)"):
        run_pipeline(basicsr.train.train_pipeline, tmp_path, options)
