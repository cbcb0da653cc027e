"""Channel selection: which channels of each prunable layer are dead, and a hard-pruned checkpoint.

Two criteria, one rule (a channel is pruned when its score is <= eps):
- 'weight': score = L2 norm of the channel's filter group (its output filter weights and its bias);
- 'activation': score = the channel's largest ReLU output over every calibration image (the original rule).
A layer never loses all its channels: its strongest one is kept, with a warning.
"""
import logging

import numpy as np
import tensorflow.compat.v1 as tf

from lib import checkpoint
from lib.common.errors import UserError
from lib.pruning.registry import build_model_graph
from lib.pruning.sparsity import filter_norms

CRITERIA = ('weight', 'activation')

log = logging.getLogger(__name__)


def weight_norms(session, registry):
    """{layer: L2 norm [C] of each output filter group (weights[..., c] and bias[c])} of the session's weights."""
    return session.run({name: filter_norms(layer.conv) for name, layer in registry.items()})


def activation_maxima(session, images, endpoints, registry, calib_images):
    """{layer: largest ReLU output [C] of each channel} over every image of ``calib_images``.

    ``calib_images``: an iterable of RGB arrays [H, W, 3] or batches [N, H, W, 3] (H, W multiples of 32).
    """
    fetches = {name: tf.reduce_max(endpoints.features[name], axis=[0, 1, 2]) for name in registry}
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


def kept_from_scores(scores, eps):
    """{layer: sorted indices with score > eps}; a layer left empty keeps its strongest channel (warned)."""
    kept = {}
    for name, score in scores.items():
        indices = np.flatnonzero(score > eps)
        if not len(indices):
            log.warning('layer %s: every channel scores <= eps=%g; keeping its strongest channel %d',
                        name, eps, int(np.argmax(score)))
            indices = [int(np.argmax(score))]
        kept[name] = sorted(int(i) for i in indices)
    return kept


def channel_scores(ckpt_prefix, arch, criterion, pixel_mean, pixel_std, calib_images=None):
    """{layer: per-channel score [C]} of the checkpoint under ``criterion`` (checked against ``arch``);
    pixel_mean / pixel_std are the model's input normalisation (the activation criterion runs the model)."""
    if criterion not in CRITERIA:
        raise UserError("criterion %r: expected 'weight' or 'activation'" % (criterion,))
    if criterion == 'activation' and calib_images is None:
        raise UserError('the activation criterion needs calibration images (calib_images)')
    graph, images, endpoints, registry = build_model_graph(arch, pixel_mean, pixel_std)
    with graph.as_default():
        model_variables = tf.global_variables()
        checkpoint.check_matches(ckpt_prefix, checkpoint.read_shapes(ckpt_prefix), model_variables)
        with tf.Session(graph=graph) as session:
            tf.train.Saver(var_list=model_variables).restore(session, ckpt_prefix)
            if criterion == 'weight':
                return weight_norms(session, registry)
            return activation_maxima(session, images, endpoints, registry, calib_images)


def select_channels(ckpt_prefix, arch, criterion, eps, pixel_mean, pixel_std, calib_images=None):
    """{layer: sorted kept channel indices} of the checkpoint (of architecture ``arch``) under ``criterion``:
    a channel is kept when its score is > eps."""
    scores = channel_scores(ckpt_prefix, arch, criterion, pixel_mean, pixel_std, calib_images)
    return kept_from_scores(scores, eps)


def hard_prune_checkpoint(ckpt_prefix, kept, out_prefix):
    """Copy the checkpoint to ``out_prefix`` with every pruned filter's weights and bias exactly zero.

    All other variables (global_step, optimizer slots, ...) are copied unchanged, and a slim
    checkpoint's .arch.json travels along. The dense graph on this checkpoint computes what the slim one does.
    """
    values = checkpoint.read_checkpoint(ckpt_prefix)
    for name, indices in kept.items():
        for suffix in ('weights', 'biases'):
            key = '%s/%s' % (name, suffix)
            if key not in values:
                raise UserError('checkpoint %s has no variable %s (layer %s of the mask)' % (ckpt_prefix, key, name))
            array = values[key].copy()
            channels = array.shape[-1]
            if max(indices) >= channels:
                raise UserError('layer %s keeps channel %d but checkpoint %s has %d channels there'
                                % (name, max(indices), ckpt_prefix, channels))
            pruned = np.setdiff1d(np.arange(channels), indices)
            array[..., pruned] = 0
            values[key] = array
    checkpoint.write_checkpoint(values, out_prefix)
    checkpoint.copy_arch_file(ckpt_prefix, out_prefix)
    return out_prefix
