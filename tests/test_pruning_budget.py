"""The MAC-budget planner (lib.pruning.budget) on hand-made sensitivity curves: it reaches the target (counted on the
planned architecture's own graph), prunes the cheapest groups first, honours round_to, refuses what it cannot reach."""
import collections

import pytest

from lib.common.errors import UserError
from lib.model.layers import source_groups
from lib.pruning import budget, macs
from pruning_helpers import dense_arch, small_config

SIZE = (64, 64)


@pytest.fixture(scope='module')
def model():
    config = small_config(width_mult=0.125, size=64)
    arch = dense_arch(config)
    return dict(config=config, arch=arch, counts=macs.count_arch(arch, SIZE, config))


def curves(arch, slopes, ratios=(0.25, 0.5, 0.75), baseline=2.):
    """A sensitivity result whose val loss rises by slopes[group] * (fraction pruned) when the group is pruned alone
    (groups not in ``slopes``: 100, i.e. far too costly)."""
    rows = []
    for group in arch.groups:
        width = arch.channels[group]
        for ratio in ratios:
            pruned = int(ratio * width)
            rows.append(collections.OrderedDict([
                ('layer', group), ('ratio', ratio), ('pruned', pruned), ('kept', width - pruned),
                ('val_loss', baseline + slopes.get(group, 100.) * pruned / float(width))]))
    return {'baseline_val_loss': baseline, 'rows': rows}


def counted(model, plan, round_to=1):
    """Whole-detector MACs of the plan's ratios, counted on the graph of the architecture training would build."""
    kept = macs.planned_kept(model['arch'], plan.ratios, round_to)
    assert kept == plan.kept  # the written ratios reproduce the planned counts
    return sum(c.macs for c in macs.count_arch(model['arch'].with_channels(kept), SIZE, model['config']))


def test_total_macs_is_what_the_graph_counts(model):
    arch, counts = model['arch'], model['counts']
    assert macs.total_macs(counts, arch.channels) == sum(c.macs for c in counts)
    kept = {'vgg_16/conv2/conv2_1': 5, 'fc7': 40, 'fpn/res1': 9, 'fems0/eyes_2_1': 3, 'fems3/eyes_3': 2}
    slim = macs.count_arch(arch.with_channels(kept), SIZE, model['config'])
    channels = dict(arch.channels)
    channels.update(kept)
    assert macs.total_macs(counts, channels) == sum(c.macs for c in slim)


def test_flat_group_is_the_only_one_pruned(model):
    """One group costs (almost) nothing to prune, every other one a lot: a target that group alone can reach is
    met by pruning it alone."""
    arch, counts = model['arch'], model['counts']
    cheap = 'fc7'
    result = curves(arch, {cheap: 0.01})
    dense = sum(c.macs for c in counts)
    alone = dict(arch.channels)
    alone[cheap] -= int(0.75 * alone[cheap])  # pruned at its largest measured ratio
    alone = macs.total_macs(counts, alone)
    target = (alone + 1000.) / dense
    plan = budget.plan_budget(counts, arch, result, target)
    assert [g for g, r in plan.ratios.items() if r > 0] == [cheap]
    assert plan.macs <= target * dense and counted(model, plan) == plan.macs
    assert plan.predicted[cheap] == pytest.approx(0.01 * plan.ratios[cheap])


def test_the_cut_that_reaches_the_target_counts_whole_channels_up(model):
    """A target 2.5 channels of group A below dense. A's loss is a step (1 for any cut: cheaper per MAC the more
    is cut); B's is linear, priced per MAC between A's 3-channel cut and its 2-channel one. Cutting 3 channels of
    A reaches the target at the least loss; a cut rounded down (2) would look worse than B and prune B instead."""
    arch, counts = model['arch'], model['counts']
    dense = sum(c.macs for c in counts)

    def per_channel(group):
        fewer = dict(arch.channels)
        fewer[group] -= 1
        return dense - macs.total_macs(counts, fewer)
    a, b = 'fc7', 'vgg_16/conv5/conv5_3'
    width_a, width_b, p_a, p_b = arch.channels[a], arch.channels[b], per_channel(a), per_channel(b)
    slope_b = width_b * p_b / (2.5 * p_a)  # B's loss per MAC: 1 / (2.5 p_a), between 1 / (3 p_a) and 1 / (2 p_a)
    rows = [collections.OrderedDict([('layer', a), ('ratio', r), ('pruned', n), ('kept', width_a - n),
                                     ('val_loss', 3.)]) for r, n in [(0.01, 1), (0.5, width_a // 2)]]
    rows.append(collections.OrderedDict([('layer', b), ('ratio', 0.5), ('pruned', width_b // 2),
                                         ('kept', width_b - width_b // 2),
                                         ('val_loss', 2. + slope_b * (width_b // 2) / float(width_b))]))
    plan = budget.plan_budget(counts, arch, {'baseline_val_loss': 2., 'rows': rows}, (dense - 2.5 * p_a) / dense)
    assert [g for g, r in plan.ratios.items() if r > 0] == [a]
    assert plan.kept[a] == width_a - 3 and plan.macs == dense - 3 * p_a
    assert plan.predicted[a] == pytest.approx(1.)


@pytest.mark.parametrize('round_to', [1, 8])
def test_reaches_the_target_with_round_to(model, round_to):
    arch, counts = model['arch'], model['counts']
    slopes = {group: 0.1 * (1 + i % 5) for i, group in enumerate(arch.groups)}
    plan = budget.plan_budget(counts, arch, curves(arch, slopes), 0.3, round_to)
    assert plan.macs <= 0.3 * plan.dense_macs
    assert counted(model, plan, round_to) == plan.macs
    for group, kept in plan.kept.items():
        width = arch.channels[group]
        assert kept == width or kept % round_to == 0, group
        assert kept >= width - int(0.75 * width), group  # never beyond the largest measured ratio
    assert sum(plan.predicted.values()) > 0


def test_unreachable_target_is_one_line(model):
    arch, counts = model['arch'], model['counts']
    with pytest.raises(UserError, match=r'target MACs 0\.01 of dense .* cannot be reached: the least is') as error:
        budget.plan_budget(counts, arch, curves(arch, {}), 0.01)
    assert '\n' not in str(error.value)
    with pytest.raises(UserError, match='0 < x <= 1'):
        budget.plan_budget(counts, arch, curves(arch, {}), 1.5)
