"""The slimmable supernets: parameters, keys, subnet equivalence, FLOPs, export, bad options."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from basicsr.archs.rcan_arch import RCAN
from basicsr.archs.srresnet_arch import MSRResNet
from basicsr.utils.registry import ARCH_REGISTRY
from wbsr_basicsr.archs.wbsr_msrresnet_arch import WBSRMSRResNet
from wbsr_basicsr.archs.wbsr_rcan_arch import WBSRRCAN

TOLERANCE = 1e-5

# Reduced sizes keep the CPU forwards fast; the paper's sizes are checked on parameters,
# keys and FLOPs (cheap) and on the full-network forward.
SMALL_MSRRESNET = dict(num_feat=32, num_block=4, widths=(16, 24, 32), depths=(1, 2, 4))
SMALL_RCAN = dict(num_feat=32, num_group=2, num_block=4, squeeze_factor=8, widths=(16, 24, 32), depths=(1, 2, 4))


def count_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def counted_flops(net: torch.nn.Module, lr_hw) -> int:
    """FLOPs of one forward as torch's own counter sees them, on the meta device (no compute)."""
    x = torch.empty(1, 3, *lr_hw, device='meta')
    with FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops()


def test_registered_in_basicsr():
    assert ARCH_REGISTRY.get('WBSRMSRResNet') is WBSRMSRResNet
    assert ARCH_REGISTRY.get('WBSRRCAN') is WBSRRCAN


def test_paper_subnets_ordered_by_flops_full_last():
    for net in (WBSRMSRResNet(), WBSRRCAN()):
        flops = [net.flops(s) for s in net.subnets]
        assert len(net.subnets) == 9
        assert flops == sorted(flops)
        assert net.subnets[-1] == net.full_subnet == (64, 16 if isinstance(net, WBSRMSRResNet) else 20)
    assert set(WBSRMSRResNet().subnets) == {(w, d) for w in (36, 52, 64) for d in (4, 8, 16)}
    assert set(WBSRRCAN().subnets) == {(w, d) for w in (36, 52, 64) for d in (5, 10, 20)}


def test_parameters_equal_plain_networks():
    assert count_params(WBSRMSRResNet()) == count_params(MSRResNet(num_feat=64, num_block=16, upscale=4)) == 1_517_571
    assert count_params(WBSRRCAN()) == count_params(RCAN(3, 3, num_group=10, num_block=20)) == 15_592_355


@pytest.mark.parametrize('upscale', [2, 3, 4])
def test_msrresnet_checkpoint_loads_strict_and_full_output_matches(upscale):
    torch.manual_seed(0)
    plain = MSRResNet(num_feat=64, num_block=16, upscale=upscale).eval()
    supernet = WBSRMSRResNet(upscale=upscale).eval()
    assert list(supernet.state_dict()) == list(plain.state_dict())
    supernet.load_state_dict(plain.state_dict(), strict=True)
    x = torch.rand(1, 3, 20, 17)
    with torch.no_grad():
        assert (supernet(x) - plain(x)).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize('upscale', [2, 3, 4, 8])
def test_rcan_checkpoint_loads_strict_and_full_output_matches(upscale):
    torch.manual_seed(0)
    options = dict(num_feat=32, num_group=3, num_block=4, squeeze_factor=8, upscale=upscale)
    plain = RCAN(3, 3, **options).eval()
    supernet = WBSRRCAN(**options).eval()
    assert list(supernet.state_dict()) == list(plain.state_dict())
    supernet.load_state_dict(plain.state_dict(), strict=True)
    x = torch.rand(1, 3, 13, 18)
    with torch.no_grad():
        assert (supernet(x) - plain(x)).abs().max().item() <= TOLERANCE


def test_paper_size_rcan_full_output_matches():
    torch.manual_seed(0)
    plain = RCAN(3, 3, num_group=10, num_block=20).eval()
    supernet = WBSRRCAN().eval()
    supernet.load_state_dict(plain.state_dict(), strict=True)
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        assert (supernet(x) - plain(x)).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize('arch, options, plain_arch', [
    (WBSRMSRResNet, dict(SMALL_MSRRESNET, upscale=4), MSRResNet),
    (WBSRMSRResNet, dict(SMALL_MSRRESNET, upscale=3), MSRResNet),
    (WBSRRCAN, dict(SMALL_RCAN, upscale=2), RCAN),
])
def test_every_subnet_equals_standalone_plain_network(arch, options, plain_arch):
    torch.manual_seed(0)
    supernet = arch(**options).eval()
    x = torch.rand(2, 3, 15, 11)
    for subnet in supernet.subnets:
        standalone = plain_arch(**supernet.plain_options(subnet)).eval()
        # Load the slice by hand (not through extract_subnet) so the check is independent.
        own = supernet.state_dict()
        standalone.load_state_dict(
            {k: own[k][tuple(slice(0, n) for n in v.shape)] for k, v in standalone.state_dict().items()},
            strict=True)
        with torch.no_grad(), supernet.subnet(subnet):
            assert (supernet(x) - standalone(x)).abs().max().item() <= TOLERANCE, subnet
        assert count_params(standalone) < count_params(supernet) or subnet == supernet.full_subnet


def test_subnet_uses_leading_channels_and_blocks():
    supernet = WBSRMSRResNet(**SMALL_MSRRESNET, upscale=4)
    exported = supernet.export_subnet((16, 2))
    assert exported['conv_first.weight'].shape == (16, 3, 3, 3)
    assert torch.equal(exported['upconv1.weight'], supernet.upconv1.weight[:64, :16])
    assert torch.equal(exported['body.1.conv2.weight'], supernet.body[1].conv2.weight[:16, :16])
    assert 'body.2.conv1.weight' not in exported
    rcan = WBSRRCAN(**SMALL_RCAN)
    attention = rcan.export_subnet((24, 1))['body.0.residual_group.0.rcab.3.attention.1.weight']
    assert attention.shape == (24 // 8, 24, 1, 1)


def test_export_writes_plain_basicsr_checkpoint(tmp_path):
    torch.manual_seed(0)
    supernet = WBSRMSRResNet(**SMALL_MSRRESNET, upscale=2).eval()
    path = tmp_path / 'net_g_w24_d2.pth'
    supernet.export_subnet((24, 2), str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['net_g_w24_d2.pth']
    plain = MSRResNet(num_feat=24, num_block=2, upscale=2).eval()
    plain.load_state_dict(torch.load(path, weights_only=True)['params'], strict=True)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad(), supernet.subnet((24, 2)):
        assert (plain(x) - supernet(x)).abs().max().item() <= TOLERANCE


def test_paper_flops_of_full_networks():
    assert round(WBSRMSRResNet().flops() / 1e9, 2) == 5.19
    assert round(WBSRRCAN().flops() / 1e9, 2) == 32.60
    msrresnet = WBSRMSRResNet()
    ratios = {s: round(100 * msrresnet.flops(s) / msrresnet.flops()) for s in msrresnet.subnets}
    # docs/paper_reading.md, "FLOPs": standalone subnet FLOPs of MSRResNet x4.
    assert ratios == {(36, 4): 21, (36, 8): 25, (36, 16): 32, (52, 4): 43, (52, 8): 51, (64, 4): 65,
                      (52, 16): 66, (64, 8): 77, (64, 16): 100}


@pytest.mark.parametrize('arch, options', [(WBSRMSRResNet, {}), (WBSRRCAN, dict(num_group=3, num_block=8))])
@pytest.mark.parametrize('upscale', [2, 3, 4])
@pytest.mark.parametrize('lr_hw', [(32, 32), (24, 40)])
def test_flops_equal_torch_flop_counter(arch, options, upscale, lr_hw):
    with torch.device('meta'):
        net = arch(upscale=upscale, **options)
    for subnet in net.subnets:
        with net.subnet(subnet):
            assert net.flops(subnet, lr_hw=lr_hw) == counted_flops(net, lr_hw), subnet


def test_paper_size_rcan_flops_equal_torch_flop_counter():
    with torch.device('meta'):
        net = WBSRRCAN()
    for subnet in (net.subnets[0], net.full_subnet):
        with net.subnet(subnet):
            assert net.flops(subnet) == counted_flops(net, (32, 32)), subnet


def test_subnet_blocks_select_and_restore_even_on_errors():
    net = WBSRMSRResNet(**SMALL_MSRRESNET)
    assert net.active_subnet == net.full_subnet == (32, 4)
    with net.subnet((16, 1)) as chosen:
        assert chosen == net.active_subnet == (16, 1)
        with net.subnet(None):
            assert net.active_subnet == (32, 4)
        assert net.active_subnet == (16, 1)
    assert net.active_subnet == (32, 4)
    with pytest.raises(RuntimeError), net.subnet((16, 2)):
        raise RuntimeError('a failed forward')
    assert net.active_subnet == (32, 4)


@pytest.mark.parametrize('arch, options, message', [
    (WBSRMSRResNet, dict(num_feat=32, widths=(16, 48)), 'larger than num_feat=32'),
    (WBSRMSRResNet, dict(num_block=4, depths=(2, 6)), 'larger than num_block=4'),
    (WBSRMSRResNet, dict(num_feat=32, widths=(16, 24)), 'must include num_feat=32'),
    (WBSRMSRResNet, dict(widths=(0, 64)), 'positive integer'),
    (WBSRMSRResNet, dict(upscale=5), 'supports upscale'),
    (WBSRRCAN, dict(num_feat=64, widths=(64, 96)), 'larger than num_feat=64'),
    (WBSRRCAN, dict(num_block=8, depths=(4, 10)), 'larger than num_block=8'),
    (WBSRRCAN, dict(num_feat=64, squeeze_factor=16, widths=(8, 64)), 'below squeeze_factor=16'),
    (WBSRRCAN, dict(upscale=6), 'supports upscale'),
])
def test_bad_options_raise_value_error(arch, options, message):
    with pytest.raises(ValueError, match=message):
        arch(**options)


@pytest.mark.parametrize('subnet', [(48, 4), (32, 3), (32,), (16, 2, 1), 'full'])
def test_unknown_subnet_raises_value_error(subnet):
    net = WBSRMSRResNet(**SMALL_MSRRESNET)
    with pytest.raises(ValueError, match='subnet'), net.subnet(subnet):
        pass
    with pytest.raises(ValueError, match='subnet'):
        net.flops(subnet)
