"""Which subnets a training iteration trains: the four strategies, deterministic per iteration."""
import numpy as np
import pytest

from wbsr_basicsr.training.subnet_sampling import SubnetSampling


def test_sandwich_trains_smallest_full_and_distinct_random_middles():
    sampling = SubnetSampling('sandwich', num_random=2)
    drawn = set()
    for iteration in range(1, 60):
        steps = sampling.plan(iteration, seed=0, num_subnets=9)
        indices = [index for index, _, _ in steps]
        assert indices[0] == 0 and indices[-1] == 8 and len(set(indices)) == 4
        assert all(rows is None and weight == 1. for _, rows, weight in steps)
        drawn.update(indices[1:-1])
    assert drawn == set(range(1, 8))  # every middle subnet gets trained
    # Same seed and iteration: the same plan (every rank, and after a resume); another iteration differs.
    assert sampling.plan(7, 0, 9) == sampling.plan(7, 0, 9)
    assert any(sampling.plan(i, 0, 9) != sampling.plan(7, 0, 9) for i in range(8, 20))


def test_random_and_all():
    picks = [SubnetSampling('random').plan(i, 3, 9)[0][0] for i in range(400)]
    assert np.bincount(picks, minlength=9).min() > 20  # roughly uniform over the 9 subnets
    assert [s[0] for s in SubnetSampling('all').plan(1, 0, 9)] == list(range(9))


def test_a_one_subnet_supernet_trains_it_once():
    for strategy in ('sandwich', 'random', 'all'):
        assert [s[0] for s in SubnetSampling(strategy, num_random=2).plan(3, 0, 1)] == [0]


def test_matched_routes_each_patch_by_its_class_with_batch_share_weights():
    classes = np.array([0, 1, 4, 9, 9, 5, 2, 7])
    steps = SubnetSampling('matched').plan(1, 0, num_subnets=3, classes=classes, num_classes=10)
    assert steps[0] == (2, None, 1.0)  # the full network on the whole batch
    routed = {index: (rows.tolist(), weight) for index, rows, weight in steps[1:]}
    # Eq. 15: k = 1..3 -> subnet 0, k = 4..6 -> subnet 1, k = 7..10 -> subnet 2 (already trained on all).
    assert routed == {0: ([0, 1, 6], 3 / 8), 1: ([2, 5], 2 / 8)}
    with pytest.raises(ValueError, match='HESPairedImageDataset'):
        SubnetSampling('matched').plan(1, 0, 3)


@pytest.mark.parametrize('options, message', [({'strategy': 'greedy'}, 'one of'), ({'num_random': -1}, 'non-negative')])
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        SubnetSampling(**options)
