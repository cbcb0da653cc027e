"""Channel selection: which channels of each pruning group are dead, and a hard-pruned checkpoint.

Two criteria, one rule (a channel is pruned when its score is <= eps):
- 'weight': score = L2 norm of the channel's filter group over the group's convs (output filter weights, biases);
- 'activation': score = the channel's largest |value| of the group's feature over every calibration image (its
  ReLU output: the original rule; for an FPN level, the product lateral * up(merge)).
A group never loses all its channels: its strongest one is kept, with a warning. With ``round_to`` > 1 the kept
count is rounded up to a multiple of it (never above the group's width) with the best-scoring pruned channels.
"""
import logging

import numpy as np
import tensorflow.compat.v1 as tf

from lib import checkpoint
from lib.common.errors import UserError
from lib.model.arch import group_convs
from lib.pruning.registry import build_model_graph
from lib.pruning.sparsity import channel_maxima, filter_norms, rounded_up

CRITERIA = ('weight', 'activation', 'l1')

log = logging.getLogger(__name__)


def weight_norms(session, registry):
    """{group: L2 norm [C] of each output filter group (weights[..., c] and bias[c] of the group's convs)} of the
    session's weights."""
    return session.run({name: filter_norms(*group.convs) for name, group in registry.items()})


def activation_maxima(session, images, endpoints, registry, calib_images):
    """{group: largest |feature| [C] of each channel} over every image of ``calib_images``.

    ``calib_images``: an iterable of RGB arrays [H, W, 3] or batches [N, H, W, 3] (H, W multiples of 32).
    """
    fetches = {name: channel_maxima(group.feature) for name, group in registry.items()}
    maxima, count = None, 0
    for batch in calib_images:
        batch = np.asarray(batch, np.float32)
        batch = batch[None] if batch.ndim == 3 else batch
        result = session.run(fetches, {images: batch})
        maxima = result if maxima is None else {n: np.maximum(maxima[n], result[n]) for n in result}
        count += len(batch)
    if not count:
        raise UserError('the activation criterion needs calibration images, got none (check the calibration '
                        'list/folder and --calib_images)')
    return maxima


def kept_from_scores(scores, eps, round_to=1):
    """{group: sorted indices with score > eps}; a group left empty keeps its strongest channel (warned); then
    the count is rounded up to a multiple of ``round_to`` (at most C) by adding the best-scoring pruned channels."""
    kept = {}
    for name, score in scores.items():
        score = np.asarray(score)
        indices = list(np.flatnonzero(score > eps))
        if not indices:
            log.warning('group %s: every channel scores <= eps=%g; keeping its strongest channel %d',
                        name, eps, int(np.argmax(score)))
            indices = [int(np.argmax(score))]
        extra = rounded_up(len(indices), len(score), round_to) - len(indices)
        if extra:
            pruned = np.setdiff1d(np.arange(len(score)), indices)
            indices += list(pruned[np.argsort(-score[pruned], kind='stable')[:extra]])
        kept[name] = sorted(int(i) for i in indices)
    return kept


def channel_scores(ckpt_prefix, arch, criterion, pixel_mean, pixel_std, calib_images=None):
    """{group: per-channel score [C]} of the checkpoint under ``criterion`` (checked against ``arch``):
    'weight' the filter groups' L2 norms, 'activation' the largest |feature| on calib_images, 'l1' l1_norms.
    pixel_mean / pixel_std are the model's input normalisation (the activation criterion runs the model)."""
    if criterion not in CRITERIA:
        raise UserError("criterion %r: expected one of %s" % (criterion, ', '.join(CRITERIA)))
    if criterion == 'activation' and calib_images is None:
        raise UserError('the activation criterion needs calibration images (calib_images)')
    if criterion == 'l1':  # the weights alone: no session to restore
        checkpoint.check_fits_arch(ckpt_prefix, arch)
        return l1_norms(checkpoint.read_checkpoint(ckpt_prefix), arch.groups)
    graph, images, endpoints, registry = build_model_graph(arch, pixel_mean, pixel_std)
    with graph.as_default():
        model_variables = tf.global_variables()
        checkpoint.check_matches(ckpt_prefix, checkpoint.read_shapes(ckpt_prefix), model_variables)
        with tf.Session(graph=graph) as session:
            checkpoint.restore(session, tf.train.Saver(var_list=model_variables), ckpt_prefix)
            if criterion == 'weight':
                return weight_norms(session, registry)
            return activation_maxima(session, images, endpoints, registry, calib_images)


def select_channels(ckpt_prefix, arch, criterion, eps, pixel_mean, pixel_std, calib_images=None, round_to=1):
    """{group: sorted kept channel indices} of the checkpoint (of architecture ``arch``) under ``criterion``:
    a channel is kept when its score is > eps (counts then rounded up to a multiple of ``round_to``)."""
    scores = channel_scores(ckpt_prefix, arch, criterion, pixel_mean, pixel_std, calib_images)
    return kept_from_scores(scores, eps, round_to)


def l1_norms(values, groups):
    """{group: [C] sum of |weights[..., c]| over the group's convs} of checkpoint ``values`` (name -> array):
    the classic one-shot magnitude criterion of filter pruning (biases left out)."""
    return {group: sum(np.abs(values['%s/weights' % name]).sum(axis=(0, 1, 2)) for name in group_convs(group))
            for group in groups}


def kept_top(scores, counts):
    """{group: sorted indices of its ``counts[group]`` best-scoring channels} (ties: the lower index): a fixed
    kept count per group, e.g. a budget's, whatever the scores' scale."""
    return {name: sorted(int(i) for i in np.argsort(-np.asarray(scores[name]), kind='stable')[:count])
            for name, count in counts.items()}


def hard_prune_checkpoint(ckpt_prefix, kept, out_prefix):
    """Copy the checkpoint to ``out_prefix`` with every pruned filter's weights and bias exactly zero, in every
    conv of the group (both convs of an FPN level).

    All other variables (global_step, optimizer slots, ...) are copied unchanged, and a slim
    checkpoint's .arch.json travels along. The dense graph on this checkpoint computes what the slim one does.
    """
    values = checkpoint.read_checkpoint(ckpt_prefix)
    for group, indices in kept.items():
        for name in group_convs(group):
            for suffix in ('weights', 'biases'):
                key = '%s/%s' % (name, suffix)
                if key not in values:
                    raise UserError('checkpoint %s has no variable %s (group %s of the mask)'
                                    % (ckpt_prefix, key, group))
                array = values[key].copy()
                channels = array.shape[-1]
                if max(indices) >= channels:
                    raise UserError('group %s keeps channel %d but checkpoint %s has %d channels there'
                                    % (group, max(indices), ckpt_prefix, channels))
                pruned = np.setdiff1d(np.arange(channels), indices)
                array[..., pruned] = 0
                values[key] = array
    checkpoint.write_checkpoint(values, out_prefix)
    checkpoint.copy_arch_file(ckpt_prefix, out_prefix)
    return out_prefix
