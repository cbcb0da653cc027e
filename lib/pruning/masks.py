"""Mask files: which channels of each pruning group survive, kept as JSON beside the checkpoint.

``<ckpt>.mask.json`` = {"kept": {group: [sorted channel indices]}, "criterion", "eps", "source_checkpoint"} (a
group: a backbone/extras layer, 'fpn/res{i}' or 'fems{i}/{branch}'; files of the 19 layers alone stay valid);
slimming, freezing (``--slim``) and mac.py read it instead of selecting again.
"""
import json
import os

from lib.common.checks import did_you_mean
from lib.common.errors import UserError
from lib.common.io import write_json
from lib.model.arch import ALL_GROUPS

MASK_FIELDS = ['kept', 'criterion', 'eps', 'pruned_ratio', 'source_checkpoint']  # what write_mask writes


def write_mask(path, kept, criterion, eps, source_checkpoint, pruned_ratio=None):
    """Atomically write the mask of ``kept`` ({group: kept channel indices}) and how it was chosen: channels
    scoring above ``eps``, or (eps None) each group's top channels at ``pruned_ratio`` ({group: ratio})."""
    unknown = sorted(set(kept) - set(ALL_GROUPS))
    if unknown:
        raise ValueError('unknown pruning groups: %s' % ', '.join(unknown))
    how = {'eps': float(eps)} if pruned_ratio is None else {'pruned_ratio': dict(pruned_ratio)}
    write_json(path, dict(how, kept={name: sorted(int(i) for i in kept[name]) for name in ALL_GROUPS if name in kept},
                          criterion=criterion, source_checkpoint=source_checkpoint))


def read_mask(path):
    """{group: sorted kept channel indices}; a UserError for a missing or malformed file or unknown groups."""
    if not os.path.isfile(path):
        raise UserError('mask file not found: %s (write one with mac.py or lib.pruning.selection)' % path)
    try:
        with open(path) as f:
            content = json.load(f)
    except ValueError as err:
        raise UserError('mask file %s is not valid JSON (%s)' % (path, err))
    kept = content.get('kept') if isinstance(content, dict) else None
    if not isinstance(kept, dict):
        raise UserError('mask file %s: expected an object with "kept": {group name: [channel indices]}' % path)
    for field in content:
        if field not in MASK_FIELDS:
            raise UserError('mask file %s: unknown field %s%s' % (path, field, did_you_mean(str(field), MASK_FIELDS)))
    unknown = sorted(set(kept) - set(ALL_GROUPS))
    if unknown:
        raise UserError('mask file %s (field "kept") names unknown layers %s; expected layers or groups among %s'
                        % (path, ', '.join(unknown), ', '.join(ALL_GROUPS)))
    result = {}
    for name, indices in kept.items():
        if (not isinstance(indices, list) or not indices
                or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in indices)):
            raise UserError('mask file %s (field "kept.%s"): expected a non-empty list of channel indices >= 0'
                            % (path, name))
        result[name] = sorted(set(indices))
    return result


def check_kept(kept, arch, source):
    """UserError unless every group of ``kept`` keeps 1..C valid channel indices of ``arch``."""
    for name, indices in kept.items():
        channels = arch.channels[name]
        if not indices or max(indices) >= channels:
            raise UserError('%s: layer %s keeps channels %s..%s, but the architecture has %d channels there '
                            '(was the mask written for another checkpoint or width?)'
                            % (source, name, min(indices or [0]), max(indices or [0]), channels))


def kept_counts(kept):
    """{group: number of kept channels}, what Architecture.with_channels takes."""
    return {name: len(indices) for name, indices in kept.items()}
