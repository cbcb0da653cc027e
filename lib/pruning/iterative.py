"""Iterative pruning: from a dense checkpoint to the final kept counts in K rounds of select -> slim -> fine-tune,
instead of one cut (the cut of each round is smaller, and the fine-tune after it repairs it before the next).

Round r (1..K) keeps per group ``C * (F / C) ** (r / K)`` channels (geometric in the kept fraction: every round
removes the same fraction of what is left), rounded up to a multiple of ``round_to`` (never above C, never below
F); the last round keeps exactly F. Each round picks its channels by a criterion on the previous round's
fine-tuned checkpoint (lib.pruning.selection.channel_scores, the one-shot path's code: 'l1' filter norms or the
'weight' filter-group L2 norms), slices them out (lib.pruning.slimming) into ``<out>/round_<r>/slim.ckpt`` and
fine-tunes that in ``<out>/round_<r>/train`` (a callable: the entry script runs pruned_train.py).

``<out>/state.json`` (written atomically) records the settings and, per round, its kept counts, its slim checkpoint
once written and its fine-tuned checkpoint once done. Re-running resumes: finished rounds are skipped, a round
whose slim checkpoint is recorded goes straight to its fine-tune, and the fine-tune resumes itself exactly.
"""
import logging
import math
import os

from lib import checkpoint
from lib.common.errors import UserError
from lib.common.io import read_json, write_json
from lib.pruning.selection import channel_scores, kept_top
from lib.pruning.sparsity import rounded_up

STATE = 'state.json'
STATE_VERSION = 1
CRITERIA = ('l1', 'weight')

log = logging.getLogger(__name__)


def round_counts(dense, final, rounds, round_to=1):
    """[{group: kept count}] of rounds 1..``rounds``: ``dense`` ({group: C}) shrunk geometrically to ``final``
    ({group: F}, F <= C), each count rounded up to a multiple of ``round_to`` (at most C, at least F); the last
    round is ``final`` itself. Non-increasing from round to round."""
    if rounds < 1:
        raise UserError('--rounds=%d: expected at least 1' % rounds)
    schedule = []
    for index in range(1, rounds + 1):
        counts = {}
        for group, width in dense.items():
            target = final[group]
            if index == rounds:
                counts[group] = target
                continue
            exact = width * (target / float(width)) ** (index / float(rounds))
            counts[group] = rounded_up(int(math.ceil(exact - 1e-6)), width, round_to)  # exact >= target
        schedule.append(counts)
    return schedule


def _round_dir(out, index):
    return os.path.join(out, 'round_%d' % index)


class IterativePruning(object):
    """One iterative pruning in the folder ``out`` (claimed by the caller).

    ``start``: the dense checkpoint prefix; ``dense_arch``: its architecture; ``final``: {group: final kept
    count} (every group of ``dense_arch``); ``settings``: {name: value} a re-run must repeat (the flags that shape
    the result); ``finetune(round, model_path, pretrained)`` trains and returns the checkpoint to carry on;
    ``macs(channels)`` (optional) the whole-detector MACs of {group: count}, for the progress lines.
    """

    def __init__(self, out, start, dense_arch, final, rounds, round_to=1, criterion='l1', settings=None,
                 finetune=None, macs=None, hooks=None):
        if criterion not in CRITERIA:
            raise UserError('--criterion=%s: expected one of %s' % (criterion, ', '.join(CRITERIA)))
        self.out, self.start, self.dense_arch, self.criterion = out, start, dense_arch, criterion
        self.finetune, self.macs, self.hooks = finetune, macs, hooks
        dense = dict((group, dense_arch.channels[group]) for group in dense_arch.groups)
        self.schedule = round_counts(dense, final, rounds, round_to)
        self.settings = dict(settings or {}, rounds=rounds, round_to=round_to, criterion=criterion,
                             final=dict(final))
        self.state = self._load_state()

    def _load_state(self):
        path = os.path.join(self.out, STATE)
        if not os.path.isfile(path):
            return {'version': STATE_VERSION, 'settings': self.settings, 'rounds': {}}
        try:
            state = read_json(path)
            saved = state['settings']
        except (ValueError, KeyError, TypeError):
            raise UserError('%s is not a state file of tools/prune_iteratively.py; use a new --out' % path)
        changed = sorted(key for key in set(saved) | set(self.settings) if saved.get(key) != self.settings.get(key))
        if changed:
            raise UserError('--out=%s holds an iterative pruning with other %s (see %s); re-run with the same '
                            'flags to resume it, or use a new --out' % (self.out, ', '.join(changed), path))
        return state

    def _save_state(self):
        write_json(os.path.join(self.out, STATE), self.state)

    def _path(self, relative):
        return os.path.join(self.out, relative)

    def _progress(self, index, counts):
        total = sum(self.dense_arch.channels[g] for g in counts)
        line = 'round %d/%d: %d of %d channels kept (%.1f%%)' % (
            index, len(self.schedule), sum(counts.values()), total, 100. * sum(counts.values()) / total)
        if self.macs is not None:
            channels = dict(self.dense_arch.channels)
            dense = float(self.macs(channels))
            channels.update(counts)
            line += ', %.1f%% of the dense MACs' % (100. * self.macs(channels) / dense)
        log.info(line)

    def select(self, ckpt, counts):
        """{group: kept indices}: the ``counts`` best channels of ``ckpt`` under the criterion."""
        arch = checkpoint.load_arch(ckpt, self.dense_arch)
        scores = channel_scores(ckpt, arch, self.criterion, arch.pixel_mean, arch.pixel_std)
        return kept_top(scores, counts), arch

    def run_round(self, index, previous):
        """Round ``index`` from the checkpoint ``previous``: its fine-tuned checkpoint."""
        from lib.pruning.slimming import slim_checkpoint
        counts = self.schedule[index - 1]
        record = self.state['rounds'].setdefault(str(index), {'kept': counts})
        folder = _round_dir(self.out, index)
        if 'slim' not in record:
            self._progress(index, counts)
            kept, arch = self.select(previous, counts)
            os.makedirs(folder, exist_ok=True)
            slim_checkpoint(previous, kept, arch, os.path.join(folder, 'slim.ckpt'))
            record['slim'] = os.path.relpath(os.path.join(folder, 'slim.ckpt'), self.out)
            self._save_state()
        if self.hooks is not None:
            self.hooks.point('round', index, 'slimmed')
        log.info('round %d/%d: fine-tuning %s', index, len(self.schedule), self._path(record['slim']))
        trained = self.finetune(index, os.path.join(folder, 'train'), self._path(record['slim']))
        record['checkpoint'] = os.path.relpath(trained, self.out)
        self._save_state()
        return trained

    def run(self):
        """Every round not yet done; returns the last round's fine-tuned checkpoint."""
        current = self.start
        for index in range(1, len(self.schedule) + 1):
            record = self.state['rounds'].get(str(index), {})
            if 'checkpoint' in record:
                log.info('round %d/%d: done before (%s)', index, len(self.schedule), record['checkpoint'])
                current = self._path(record['checkpoint'])
                continue
            current = self.run_round(index, current)
        return current
