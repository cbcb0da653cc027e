"""Mask files: which channels of each prunable layer survive, kept as JSON beside the checkpoint.

``<ckpt>.mask.json`` = {"kept": {layer: [sorted channel indices]}, "criterion", "eps", "source_checkpoint"};
slimming, freezing (``--slim``) and mac.py read it instead of selecting again.
"""
import json
import os

from lib.common.errors import UserError
from lib.common.io import write_json
from lib.model.arch import PRUNABLE_LAYERS


def write_mask(path, kept, criterion, eps, source_checkpoint):
    """Atomically write the mask of ``kept`` ({layer: kept channel indices}) and how it was chosen."""
    unknown = sorted(set(kept) - set(PRUNABLE_LAYERS))
    if unknown:
        raise ValueError('unknown prunable layers: %s' % ', '.join(unknown))
    write_json(path, {
        'kept': {name: sorted(int(i) for i in kept[name]) for name in PRUNABLE_LAYERS if name in kept},
        'criterion': criterion, 'eps': float(eps), 'source_checkpoint': source_checkpoint})


def read_mask(path):
    """{layer name: sorted kept channel indices}; a UserError for a missing or malformed file or unknown layers."""
    if not os.path.isfile(path):
        raise UserError('mask file not found: %s (write one with mac.py or lib.pruning.selection)' % path)
    try:
        with open(path) as f:
            content = json.load(f)
    except ValueError as err:
        raise UserError('mask file %s is not valid JSON (%s)' % (path, err))
    kept = content.get('kept') if isinstance(content, dict) else None
    if not isinstance(kept, dict):
        raise UserError('mask file %s: expected an object with "kept": {layer name: [channel indices]}' % path)
    unknown = sorted(set(kept) - set(PRUNABLE_LAYERS))
    if unknown:
        raise UserError('mask file %s (field "kept") names unknown layers %s; expected layers among %s'
                        % (path, ', '.join(unknown), ', '.join(PRUNABLE_LAYERS)))
    result = {}
    for name, indices in kept.items():
        if (not isinstance(indices, list) or not indices
                or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in indices)):
            raise UserError('mask file %s (field "kept.%s"): expected a non-empty list of channel indices >= 0'
                            % (path, name))
        result[name] = sorted(set(indices))
    return result


def check_kept(kept, arch, source):
    """UserError unless every layer of ``kept`` keeps 1..C valid channel indices of ``arch``."""
    for name, indices in kept.items():
        channels = arch.channels[name]
        if not indices or max(indices) >= channels:
            raise UserError('%s: layer %s keeps channels %s..%s, but the architecture has %d channels there '
                            '(was the mask written for another checkpoint or width?)'
                            % (source, name, min(indices or [0]), max(indices or [0]), channels))


def kept_counts(kept):
    """{layer: number of kept channels}, what Architecture.with_channels takes."""
    return {name: len(indices) for name, indices in kept.items()}
