"""BDLoss: closed forms against quadrature, L1 / MSE limits, the per-pixel optimum, gradients, balancing
effect, bad options."""
import json
import logging
import math
import re
from typing import List

import numpy as np
import pytest
import torch
import yaml
from scipy import integrate

import basicsr.train
from basicsr.losses import build_loss
from basicsr.utils.registry import LOSS_REGISTRY
from conftest import REPO, newest_log, photo_rgb, train_options
from wbsr_basicsr.losses.bd_loss import BDLoss, bdloss_elementwise, laplace_bdloss_elementwise, per_pixel_optimum
from wbsr_basicsr.losses.bdloss_prior import (GaussianMixturePrior, detail, fit_prior,
                                              interpolated_log_laplace_mixture_density, load_prior,
                                              log_laplace_mixture_density, log_mixture_density, save_priors)

WIDE = dict(weights=[1.0], means=[0.0], variances=[1e6])


def random_mixture(rng: np.random.Generator, components: int) -> dict:
    weights = rng.dirichlet(np.ones(components))
    return dict(weights=weights.tolist(), means=rng.uniform(-0.5, 0.5, components).tolist(),
                variances=rng.uniform(1e-4, 5e-2, components).tolist())


def test_registered_and_built_by_basicsr():
    assert LOSS_REGISTRY.get('BDLoss') is BDLoss
    assert isinstance(build_loss(dict(type='BDLoss', **WIDE)), BDLoss)


def noise_density(likelihood: str, offset: float, scale: float) -> float:
    if likelihood == 'laplace':
        return math.exp(-abs(offset) / scale) / (2 * scale)
    return math.exp(-offset**2 / (2 * scale**2)) / math.sqrt(2 * math.pi * scale**2)


@pytest.mark.parametrize('likelihood', ['gaussian', 'laplace'])
@pytest.mark.parametrize('seed', range(5))
def test_closed_form_equals_quadrature(seed, likelihood):
    """The balancing term: log integral q(y' | yhat) p_train(y') dy' in closed form (Eq. 13-14)."""
    rng = np.random.default_rng(seed)
    mixture = random_mixture(rng, components=int(rng.integers(1, 6)))
    prior = GaussianMixturePrior(**mixture, space='intensity').as_tensors(torch.float64)
    for yhat, scale in zip(rng.uniform(-0.6, 0.6, 4), rng.uniform(0.005, 0.3, 4)):

        def integrand(y: float) -> float:
            density = sum(w * math.exp(-(y - m)**2 / (2 * v)) / math.sqrt(2 * math.pi * v)
                          for w, m, v in zip(mixture['weights'], mixture['means'], mixture['variances']))
            return noise_density(likelihood, y - yhat, scale) * density

        points = sorted([yhat, *mixture['means']])
        numeric, _ = integrate.quad(integrand, -3, 3, points=points, limit=400, epsabs=1e-14, epsrel=1e-12)
        values, scale_t = torch.tensor([yhat], dtype=torch.float64), torch.tensor(scale, dtype=torch.float64)
        if likelihood == 'laplace':
            closed = log_laplace_mixture_density(values, **prior, scale=scale_t)
        else:
            closed = log_mixture_density(values, **prior, noise_variance=scale_t**2)
        assert closed.item() == pytest.approx(math.log(numeric), abs=1e-4)


@pytest.fixture(scope='module')
def intensity_prior() -> GaussianMixturePrior:
    """An 8-component intensity prior fitted on a real photo, as prepare_div2k.py fits DIV2K's."""
    values = photo_rgb('astronaut').reshape(-1)[::5] / 255.
    return fit_prior(values, 'intensity', num_components=8)


def shipped_bdloss_options() -> List[dict]:
    """The distinct BDLoss settings of the shipped training option files (the prior file aside)."""
    settings = []
    for path in sorted((REPO / 'options').rglob('train*.yml')):
        pixel_opt = dict(yaml.safe_load(path.read_text())['train']['pixel_opt'])
        if pixel_opt.pop('type') == 'BDLoss':
            pixel_opt.pop('gmm_file')
            if pixel_opt not in settings:
                settings.append(pixel_opt)
    return settings


@pytest.mark.parametrize('options', shipped_bdloss_options())
@pytest.mark.parametrize('scale', [0.01, 0.05, 0.1])
def test_shipped_loss_per_pixel_optimum_is_the_target(options, scale, intensity_prior):
    """The shipped BDLoss (Laplace likelihood), at any scale its learning may reach, keeps every grey
    level's optimum on the target: its balancing term re-weights errors without moving the answer."""
    prior = intensity_prior
    options = dict(options, init_sigma=scale)
    loss = BDLoss(weights=prior.weights, means=prior.means, variances=prior.variances, **options)
    assert BDLoss(**WIDE).likelihood == loss.likelihood == 'laplace' and loss.space == 'intensity'
    shift = per_pixel_optimum(loss) - np.arange(256)
    assert np.sqrt(np.mean(shift**2)) < 0.5 and np.abs(shift).max() < 0.03, shift


def test_gaussian_likelihood_moves_the_optimum_off_the_target(intensity_prior):
    """Balanced MSE's form: the optimum sits at yhat - y = -sigma^2 d/dyhat log p~(yhat), grey levels
    away (why it is not the default; docs/bdloss.md). A small sigma bounds the shift."""
    prior = intensity_prior
    rms = {}
    for sigma in (0.005, 0.05):
        loss = BDLoss(weights=prior.weights, means=prior.means, variances=prior.variances, space='intensity',
                      likelihood='gaussian', init_sigma=sigma)
        rms[sigma] = np.sqrt(np.mean((per_pixel_optimum(loss) - np.arange(256))**2))
    assert rms[0.05] > 2 and rms[0.005] < 0.5, rms


@pytest.mark.parametrize('seed', range(3))
def test_laplace_balancing_term_is_one_over_b_lipschitz(seed):
    """|d/dyhat log p~_b(yhat)| <= 1/b for any prior (equality only where all the prior's mass lies on one
    side): why the Laplace form's optimum is the target."""
    rng = np.random.default_rng(seed)
    prior = GaussianMixturePrior(**random_mixture(rng, 4), space='intensity').as_tensors(torch.float64)
    values = torch.linspace(-2, 2, 4001, dtype=torch.float64, requires_grad=True)
    for scale in (0.002, 0.03, 0.5):
        density = log_laplace_mixture_density(values, **prior, scale=torch.tensor(scale, dtype=torch.float64))
        (slope, ) = torch.autograd.grad(density.sum(), values)
        assert torch.isfinite(slope).all() and slope.abs().max().item() * scale <= 1 + 1e-9


@pytest.mark.parametrize('scale', [0.005, 0.05])
def test_tabulated_balancing_term_matches_the_closed_form(scale, intensity_prior):
    """The loss tabulates the Laplace balancing term per forward: on the grid, values and gradients
    (to the prediction and to the scale) match the closed form's; beyond it the slope still does.
    The photo's prior has a very narrow component (clipped black pixels), the hardest case."""
    prior = GaussianMixturePrior(intensity_prior.weights, intensity_prior.means, intensity_prior.variances,
                                 'intensity').as_tensors(torch.float64)
    inside = torch.linspace(-0.9, 1.9, 20001, dtype=torch.float64)
    values = torch.cat([inside, torch.tensor([-1.5, 2.5], dtype=torch.float64)]).requires_grad_()
    scale_t = torch.tensor(scale, dtype=torch.float64, requires_grad=True)
    exact = log_laplace_mixture_density(values, **prior, scale=scale_t)
    tabulated = interpolated_log_laplace_mixture_density(values, **prior, scale=scale_t)
    # In the scaled loss (x b, L1 units) the difference stays below 1e-5, 0.003 grey levels.
    assert (tabulated - exact)[:len(inside)].abs().max().item() * scale < 1e-5
    exact_grads = torch.autograd.grad(exact[:len(inside)].sum(), (values, scale_t), retain_graph=True)
    tabulated_grads = torch.autograd.grad(tabulated[:len(inside)].sum(), (values, scale_t), retain_graph=True)
    # The slope to the prediction: 0.5% of its bound 1/b in RMS; at most 10% next to the spike.
    slope_error = (tabulated_grads[0] - exact_grads[0]) * scale
    assert slope_error.square().mean().sqrt() < 0.005 and slope_error.abs().max() < 0.1
    assert tabulated_grads[1].item() == pytest.approx(exact_grads[1].item(), rel=1e-4)
    (exact_tails, ) = torch.autograd.grad(exact[len(inside):].sum(), values)
    (tabulated_tails, ) = torch.autograd.grad(tabulated[len(inside):].sum(), values)
    assert tabulated_tails[len(inside):].tolist() == pytest.approx(exact_tails[len(inside):].tolist(), rel=0.05)


def test_one_wide_component_reduces_to_l1():
    """Laplace likelihood with a flat prior: the scaled loss is L1 plus a constant."""
    loss = BDLoss(**WIDE, space='intensity', init_sigma=0.05).double()
    pred, target = torch.rand(2, 3, 8, 8, dtype=torch.float64), torch.rand(2, 3, 8, 8, dtype=torch.float64)
    offset = loss(pred, target) - (pred - target).abs().mean()
    pred2 = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    assert (loss(pred2, target) - (pred2 - target).abs().mean()).item() == pytest.approx(offset.item(), abs=1e-6)


@pytest.mark.parametrize('space', ['detail', 'intensity'])
def test_one_wide_component_reduces_to_mse(space):
    torch.manual_seed(0)
    loss = BDLoss(**WIDE, space=space, likelihood='gaussian', init_sigma=0.1).double()
    sigma2 = 0.1**2
    offsets = []
    for _ in range(3):
        pred, target = torch.rand(2, 3, 8, 8, dtype=torch.float64), torch.rand(2, 3, 8, 8, dtype=torch.float64)
        unscaled = loss.elementwise_nll(pred, target).mean()
        offsets.append((unscaled - ((pred - target)**2).mean() / (2 * sigma2)).item())
    # The constant: 0.5 log(2 pi s2) - 0.5 log(2 pi (1e6 + s2)); the mixture's quadratic term is below 1e-6.
    expected = 0.5 * math.log(sigma2) - 0.5 * math.log(1e6 + sigma2)
    assert offsets == pytest.approx([expected] * 3, abs=1e-6)


@pytest.mark.parametrize('likelihood', ['gaussian', 'laplace'])
@pytest.mark.parametrize('space', ['detail', 'intensity'])
def test_gradients_match_gradcheck_in_float64(space, likelihood):
    rng = np.random.default_rng(1)
    loss = BDLoss(**random_mixture(rng, 3), space=space, likelihood=likelihood, init_sigma=0.08).double()
    pred = torch.rand(1, 2, 5, 7, dtype=torch.float64, requires_grad=True)
    target = torch.rand(1, 2, 5, 7, dtype=torch.float64)
    log_sigma = torch.tensor(math.log(0.08), dtype=torch.float64, requires_grad=True)
    prior = dict(log_weights=loss.log_weights, means=loss.means, variances=loss.variances)

    def unscaled(pred_in, log_sigma_in):
        if likelihood == 'laplace':
            return laplace_bdloss_elementwise(pred_in, target, log_sigma_in.exp(), space, **prior)
        return bdloss_elementwise(pred_in, target, (2 * log_sigma_in).exp(), space, **prior)

    assert torch.autograd.gradcheck(unscaled, (pred, log_sigma))
    # The reduced, scaled loss: its scale factor is detached, so check it with respect to pred.
    assert torch.autograd.gradcheck(lambda p: loss(p, target), (pred, ))


def test_detail_is_an_idempotent_projection_on_odd_sizes():
    images = torch.rand(2, 3, 7, 10, dtype=torch.float64)
    smooth = images - detail(images)
    assert torch.allclose(detail(smooth), torch.zeros_like(smooth), atol=1e-12)
    assert torch.allclose(detail(detail(images)), detail(images), atol=1e-12)
    # Orthogonal: the squared error splits into its block-mean and detail parts.
    assert torch.allclose((images**2).sum(), (smooth**2).sum() + (detail(images)**2).sum())


def test_balancing_shrinks_flat_gradients_and_grows_edge_gradients():
    """Eq. 14's effect on a real photo, for the prediction of a model trained on imbalanced data:
    small, unbiased errors in flat areas, details smoothed towards the mean at edges. Where the
    target sits at the prior's dominant mode (flat) BDLoss's gradient is smaller than MSE's;
    where it is rare (edges), larger."""
    gray = torch.from_numpy(photo_rgb('astronaut')[128:320, 128:320].mean(-1) / 255.).double()
    target = gray.expand(1, 3, -1, -1).contiguous()
    target_detail = detail(target)
    prior = fit_prior(target_detail.flatten().numpy()[::7], 'detail', num_components=6)
    blur = torch.nn.functional.avg_pool2d(target, 3, stride=1, padding=1, count_include_pad=False)
    noise = torch.randn(target.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    pred = (0.5 * target + 0.5 * blur + 0.01 * noise).requires_grad_(True)

    loss = BDLoss(weights=prior.weights, means=prior.means, variances=prior.variances, space='detail',
                  likelihood='gaussian', init_sigma=0.03, reduction='sum').double()
    (grad_bd, ) = torch.autograd.grad(loss(pred, target), pred)
    grad_mse = 2 * (pred - target).detach()  # the gradient of the summed squared error

    magnitude = target_detail.abs()
    flat = magnitude < magnitude.quantile(0.2)
    edges = magnitude > magnitude.quantile(0.98)
    ratio_flat = (grad_bd[flat].abs().mean() / grad_mse[flat].abs().mean()).item()
    ratio_edges = (grad_bd[edges].abs().mean() / grad_mse[edges].abs().mean()).item()
    assert ratio_flat < 0.8 and ratio_edges > 1.2, (ratio_flat, ratio_edges)


@pytest.mark.parametrize('likelihood', ['gaussian', 'laplace'])
def test_finite_for_extreme_inputs_and_float32_under_autocast(likelihood):
    loss = BDLoss(weights=[0.7, 0.3], means=[0.0, 0.1], variances=[1e-6, 1e-2], space='detail',
                  likelihood=likelihood, sigma_range=(1e-3, 1.0), init_sigma=1e-3)
    pred = torch.tensor([-1e6, -1.0, 0.0, 1e-8, 1.0, 1e6]).view(1, 1, 2, 3).requires_grad_(True)
    value = loss(pred, torch.zeros_like(pred))
    (grad, ) = torch.autograd.grad(value, pred)
    assert torch.isfinite(value) and torch.isfinite(grad).all()

    pred, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    reference = loss(pred, target)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        low = loss(pred.bfloat16(), target.bfloat16())
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(loss(pred.bfloat16().float(), target.bfloat16().float()).item(), rel=1e-6)
    assert reference.dtype == torch.float32


def test_sigma_is_clamped_log_parameter_with_its_own_group():
    loss = BDLoss(**WIDE, init_sigma=0.05, learn_sigma=True, sigma_range=(0.01, 0.2))
    assert loss.sigma.item() == pytest.approx(0.05)
    assert loss.sigma_parameters() == [loss.log_sigma]
    with torch.no_grad():
        loss.log_sigma.fill_(10.0)
    assert loss.sigma.item() == pytest.approx(0.2)
    assert BDLoss(**WIDE).sigma_parameters() == []  # fixed by default (docs/bdloss.md)


def test_prior_file_round_trip(tmp_path):
    path = tmp_path / 'bdloss_prior.json'
    priors = [GaussianMixturePrior([0.25, 0.75], [0.0, 0.1], [1e-4, 2e-2], 'detail'),
              GaussianMixturePrior([1.0], [0.45], [0.06], 'intensity')]
    save_priors(priors, str(path), samples=123)
    assert [p.name for p in tmp_path.iterdir()] == ['bdloss_prior.json']
    assert load_prior(str(path), 'detail') == priors[0]
    loss = BDLoss(gmm_file=str(path), space='intensity')
    assert torch.allclose(loss.variances, torch.tensor([0.06]))


def write_json(path, document) -> str:
    path.write_text(json.dumps(document))
    return str(path)


@pytest.mark.parametrize('options, message', [
    (dict(weights=[0.5, 0.6], means=[0, 0], variances=[1, 1]), 'sum to 1'),
    (dict(weights=[0.5, 0.5], means=[0, 0], variances=[1, 0]), 'variances must be positive'),
    (dict(weights=[0.5, 0.5], means=[0, 0], variances=[1, -2]), 'variances must be positive'),
    (dict(weights=[1.0], means=[0, 1], variances=[1]), 'equally long'),
    (dict(weights=[1.0], means=[0]), 'needs a prior'),
    (dict(**WIDE, space='gradient'), 'Unknown prior space'),
    (dict(**WIDE, reduction='max'), 'reduction'),
    (dict(**WIDE, likelihood='cauchy'), 'likelihood must be one of'),
    (dict(**WIDE, sigma_rang=[0.01, 0.1]), 'BDLoss: unknown option sigma_rang; the known ones are gmm_file, init_sigma'),
    (dict(**WIDE, init_sigma=2.0), 'outside sigma_range'),
])
def test_bad_inline_options_raise(options, message):
    with pytest.raises(ValueError, match=message):
        BDLoss(**options)


def test_bad_prior_files_raise_naming_the_file(tmp_path):
    missing = tmp_path / 'missing.json'
    with pytest.raises(ValueError, match=f'{missing} does not exist'):
        BDLoss(gmm_file=str(missing))
    binary = tmp_path / 'weights.pth'
    binary.write_bytes(b'\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19.')
    with pytest.raises(ValueError, match=f'{binary} is not a JSON prior file'):
        BDLoss(gmm_file=str(binary))
    other = write_json(tmp_path / 'other.json', dict(format='something-else', spaces={}))
    with pytest.raises(ValueError, match=f"{other} is not a 'wbsr-bdloss-prior' file"):
        BDLoss(gmm_file=other)
    no_detail = write_json(tmp_path / 'intensity_only.json',
                           dict(format='wbsr-bdloss-prior', version=1, spaces=dict(intensity=WIDE)))
    with pytest.raises(ValueError, match="has no 'detail' mixture"):
        BDLoss(gmm_file=no_detail, space='detail')
    bad_weights = write_json(tmp_path / 'bad.json', dict(format='wbsr-bdloss-prior', version=1, spaces=dict(
        detail=dict(weights=[0.2, 0.2], means=[0, 0], variances=[1, 1]))))
    with pytest.raises(ValueError, match=f'{bad_weights}: weights must be non-negative and sum to 1'):
        BDLoss(gmm_file=bad_weights, space='detail')
    with pytest.raises(ValueError, match='not both'):
        BDLoss(gmm_file=bad_weights, **WIDE)


def test_fixed_sigma_noted_once_when_the_model_does_not_learn_it():
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger('basicsr')
    logger.addHandler(handler)
    try:
        loss = BDLoss(**WIDE, learn_sigma=True).train()
        for _ in range(3):
            loss(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4))
        learned = BDLoss(**WIDE, learn_sigma=True).train()
        learned.sigma_parameters()
        learned(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4))
    finally:
        logger.removeHandler(handler)
    notes = [r.getMessage() for r in records if 'stays fixed' in r.getMessage()]
    assert len(notes) == 1


def test_bdloss_trains_inside_basicsr_srmodel(tmp_path, tiny_pairs, run_pipeline):
    """As ``pixel_opt`` of BasicSR's plain SRModel, with sigma fixed there (and said so)."""
    opt = train_options(*tiny_pairs, total_iter=3)
    opt['train']['pixel_opt'] = dict(type='BDLoss', **WIDE, space='detail', init_sigma=0.05, learn_sigma=True)
    run_pipeline(basicsr.train.train_pipeline, tmp_path, opt)
    log = newest_log(tmp_path / 'experiments' / opt['name'], 'train')
    assert 'Loss [BDLoss] is created.' in log
    losses = [float(v) for v in re.findall(r'l_pix: ([-+.\deE]+)', log)]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert log.count('stays fixed at 0.05') == 1
