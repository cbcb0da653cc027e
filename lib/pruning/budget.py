"""A MAC budget instead of per-group ratios: the kept channel counts that bring the whole detector to a fraction of
its dense MACs at the least predicted loss (`mac.py --sensitivity --target_macs=0.3`).

The predicted loss of a plan is the baseline plus, per group, the val-loss increase the sensitivity analysis
measured with that group pruned alone (lib.pruning.sensitivity), interpolated linearly in the fraction of its
channels pruned; no group is pruned beyond its largest measured fraction (nothing predicts the loss there).

Greedy, not a knapsack: a group's MACs depend on its consumers' widths (a conv costs C_in * C_out), so the MACs
a choice saves are not a fixed item weight and a knapsack over independent items would be approximate anyway.
The greedy recomputes the exact MACs of the whole detector after every step (lib.pruning.macs.total_macs, the
bilinear count that the built graph gives). Each step takes, over every group, the cut with the smallest
predicted loss increase per MAC saved. A cut may go straight to a measured ratio: with the others fixed, MACs
saved are linear in the channels removed and the predicted loss is piecewise linear, so the best loss per MAC
lies at a measured breakpoint, at the next allowed count, or at the first count that reaches the target (also
offered, so the last step does not overshoot). Kept counts are multiples of ``round_to`` (or the dense width),
as kept_count gives them in training.
"""
import collections
import math

import numpy as np

from lib.common.errors import UserError
from lib.model.layers import source_groups
from lib.pruning import macs
from lib.pruning.sparsity import kept_count

Plan = collections.namedtuple('Plan', 'kept ratios predicted dense_macs target_macs macs round_to')
Plan.__doc__ = """kept: {group: kept count} of every group; ratios: {group: (C - kept) / C}, the pruned_ratio
dict that reproduces ``kept`` under the same round_to; predicted: {group: predicted val-loss increase};
dense_macs / target_macs / macs: whole-detector MACs dense, targeted and planned (exact)."""


def loss_curves(result):
    """{group: (fractions, losses)} of a sensitivity result (lib.pruning.sensitivity.analyse): the baseline at 0,
    then each measured fraction of channels pruned (pruned / C) with its val loss, increasing; a count measured
    twice (two ratios of a narrow group) is kept once. Groups never measured with a channel pruned are absent."""
    measured = collections.OrderedDict()
    for row in result['rows']:
        if row['pruned']:
            fraction = row['pruned'] / float(row['pruned'] + row['kept'])
            measured.setdefault(row['layer'], {}).setdefault(fraction, row['val_loss'])
    baseline = result['baseline_val_loss']
    return collections.OrderedDict(
        (group, (np.array([0.] + sorted(points)), np.array([baseline] + [points[f] for f in sorted(points)])))
        for group, points in measured.items())


def _allowed_counts(channels, largest_fraction, round_to):
    """Kept counts a group may take, increasing: multiples of ``round_to`` from the count at its largest measured
    fraction up to, and including, its dense width."""
    least = kept_count(largest_fraction, channels, round_to)
    return np.array(list(range(least, channels, round_to)) + [channels])


class _Planner(object):
    """Greedy state: the kept counts so far and the exact whole-detector MACs they give."""

    def __init__(self, counts, arch, curves, round_to):
        self.counts, self.arch, self.curves = counts, arch, curves
        self.kept = collections.OrderedDict((group, arch.channels[group]) for group in arch.groups)
        self.allowed = {group: _allowed_counts(arch.channels[group], curve[0][-1], round_to)
                        for group, curve in curves.items() if group in self.kept}
        self.touching = {group: [c for c in counts if c.channel_group == group
                                 or group in source_groups(c.input_source)] for group in self.allowed}
        self.macs = macs.total_macs(counts, self.channels())

    def channels(self):
        channels = dict(self.arch.channels)
        channels.update(self.kept)
        return channels

    def predicted(self, group, kept):
        """Predicted val-loss increase of ``group`` keeping ``kept`` (scalar or array) of its channels."""
        fractions, losses = self.curves[group]
        width = float(self.arch.channels[group])
        return np.interp((width - np.asarray(kept)) / width, fractions, losses) - losses[0]

    def macs_per_channel(self, group):
        """MACs one channel of ``group`` costs now (its convs' and its consumers' share; linear in its count)."""
        channels = self.channels()
        before = sum(macs.conv_macs(c, channels) for c in self.touching[group])
        channels[group] -= 1
        return before - sum(macs.conv_macs(c, channels) for c in self.touching[group])

    def best_cut(self, group, excess):
        """(loss per MAC, -MACs saved, kept) of ``group``'s best cut now, or None when it cannot shrink."""
        current = self.kept[group]
        options = self.allowed[group][self.allowed[group] < current]
        per_channel = self.macs_per_channel(group)
        if not len(options) or per_channel <= 0:
            return None
        reaching = options[options <= current - int(math.ceil(excess / float(per_channel)))]
        if len(reaching):
            options = options[options >= reaching.max()]
        saved = (current - options) * float(per_channel)
        score = (self.predicted(group, options) - self.predicted(group, current)) / saved
        best = np.lexsort((-saved, score))[0]
        return score[best], -saved[best], int(options[best])

    def step(self, target_macs):
        """Take the best cut over every group; False when no group can shrink."""
        cuts = []
        for order, group in enumerate(self.allowed):
            cut = self.best_cut(group, self.macs - target_macs)
            if cut is not None:
                cuts.append(cut[:2] + (order, group, cut[2]))
        if not cuts:
            return False
        _, _, _, group, kept = min(cuts)
        self.kept[group] = kept
        self.macs = macs.total_macs(self.counts, self.channels())
        return True


def plan_budget(counts, arch, result, target, round_to=1):
    """The Plan that brings the MACs of ``counts`` (the dense architecture ``arch``'s convs, macs.count_arch) to at
    most ``target`` (a fraction of its dense MACs, 0 < target <= 1) at the least loss predicted from the
    sensitivity ``result``; a UserError when even the least reachable MACs are above the target."""
    if not 0 < target <= 1:
        raise UserError('target MACs %r: expected a fraction of the dense MACs, 0 < x <= 1' % (target,))
    planner = _Planner(counts, arch, loss_curves(result), round_to)
    dense_macs = planner.macs
    target_macs = target * dense_macs
    least = dict(arch.channels)
    least.update((group, int(allowed[0])) for group, allowed in planner.allowed.items())
    floor = macs.total_macs(counts, least)
    if floor > target_macs:
        raise UserError('target MACs %g of dense (%s) cannot be reached: the least is %s (%.1f%% of dense), every '
                        'measured group at its largest SENSITIVITY.ratios (round_to=%d) and the heads and unprunable '
                        'convs intact; raise the target or measure larger ratios'
                        % (target, '{:,.0f}'.format(target_macs), '{:,}'.format(floor), 100. * floor / dense_macs,
                           round_to))
    while planner.macs > target_macs and planner.step(target_macs):
        pass
    kept = dict(planner.kept)
    ratios = collections.OrderedDict((group, (arch.channels[group] - count) / float(arch.channels[group]))
                                     for group, count in planner.kept.items())
    predicted = collections.OrderedDict((group, float(planner.predicted(group, planner.kept[group]))
                                         if group in planner.allowed else 0.) for group in planner.kept)
    return Plan(kept, ratios, predicted, dense_macs, target_macs, planner.macs, round_to)


def plan_dict(plan):
    """The JSON form of a Plan (mac.py --json)."""
    return collections.OrderedDict([
        ('target_macs', plan.target_macs), ('dense_macs', plan.dense_macs), ('macs', plan.macs),
        ('round_to', plan.round_to), ('predicted_loss_increase', sum(plan.predicted.values())),
        ('pruned_ratio', plan.ratios), ('kept', plan.kept), ('predicted', plan.predicted)])


def format_plan(plan, arch, counts):
    """The plan as a table: per group its ratio, kept / dense channels, predicted loss increase and the MACs of
    its own convs (inputs pruned too) kept / dense; then the whole detector against the target."""
    channels = arch.channels
    planned = dict(channels)
    planned.update(plan.kept)
    header = '%-24s %7s %11s %12s %16s %16s' % ('group', 'ratio', 'kept/dense', 'pred. dloss', 'MACs kept',
                                                 'MACs dense')
    lines = ['budget plan (round_to=%d): the ratio chosen for each group' % plan.round_to, header,
             '-' * len(header)]
    for group, kept in plan.kept.items():
        own = [c for c in counts if c.channel_group == group]
        lines.append('%-24s %7.3f %11s %12.4f %16s %16s' % (
            group, plan.ratios[group], '%d/%d' % (kept, channels[group]), plan.predicted[group],
            '{:,}'.format(sum(macs.conv_macs(c, planned) for c in own)), '{:,}'.format(sum(c.macs for c in own))))
    lines += ['-' * len(header),
              'predicted val-loss increase %.4f (sum over groups, each measured pruned alone)'
              % sum(plan.predicted.values()),
              'whole-detector MACs %s of dense %s (%.2f%%); target %s (%.2f%%)'
              % ('{:,}'.format(plan.macs), '{:,}'.format(plan.dense_macs), 100. * plan.macs / plan.dense_macs,
                 '{:,.0f}'.format(plan.target_macs), 100. * plan.target_macs / plan.dense_macs)]
    return '\n'.join(lines)
