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


def test_first_cut_goes_to_the_most_macs_per_unit_of_loss(model):
    """Every group loses the same loss per fraction pruned, so per MAC saved the cheapest is the group whose whole
    width costs the most MACs (its convs plus its consumers' inputs, computed here from the conv shapes); a target
    just below dense takes a cut of that group only."""
    arch, counts = model['arch'], model['counts']
    result = curves(arch, dict.fromkeys(arch.groups, 1.))

    def group_macs(group):  # each conv's MACs are linear in C_out and in C_in: the group's share of both
        share = 0.
        for c in counts:
            if c.channel_group == group:
                share += c.macs
            widths = [arch.channels[g] for g in source_groups(c.input_source)]
            if group in source_groups(c.input_source):
                share += c.macs * arch.channels[group] / float(sum(widths))
        return share

    expected = max(arch.groups, key=group_macs)
    dense = sum(c.macs for c in counts)
    plan = budget.plan_budget(counts, arch, result, 1. - 1e-6)
    assert [g for g, r in plan.ratios.items() if r > 0] == [expected]
    assert plan.kept[expected] == arch.channels[expected] - 1  # one channel was enough
    assert plan.macs <= (1. - 1e-6) * dense


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
