"""Channel selection: which channels of each prunable layer are dead, and a hard-pruned checkpoint.

Two criteria, one rule (a channel is pruned when its score is <= eps):
- 'weight': score = L2 norm of the channel's filter group (its output filter weights and its bias);
- 'activation': score = the channel's largest ReLU output over every calibration image (the original rule).
A layer never loses all its channels: its strongest one is kept, with a warning.
"""
import logging

import numpy as np
import tensorflow.compat.v1 as tf

from lib.helper.errors import UserError
from lib.pruning import checkpoint_io
from lib.pruning.registry import build_model_graph

CRITERIA = ('weight', 'activation')
DEFAULT_EPS = 1e-3
# The training config's default normalisation (ImageNet RGB mean, std 1), used when none is passed.
DEFAULT_PIXEL_MEAN = (123.675, 116.28, 103.53)
DEFAULT_PIXEL_STD = (1., 1., 1.)

log = logging.getLogger(__name__)


def filter_norms(values, registry):
    """{layer: L2 norm [C] of each output filter group (weights[..., c] and bias[c])} from checkpoint values."""
    norms = {}
    for name, layer in registry.items():
        weights = values[checkpoint_io.variable_name(layer.conv.weights)]
        biases = values[checkpoint_io.variable_name(layer.conv.biases)]
        squares = np.square(weights.astype(np.float64)).reshape(-1, weights.shape[-1]).sum(axis=0)
        norms[name] = np.sqrt(squares + np.square(biases.astype(np.float64)))
    return norms


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


def channel_scores(ckpt_prefix, arch, criterion, calib_images=None, pixel_mean=None, pixel_std=None):
    """{layer: per-channel score [C]} of the checkpoint under ``criterion`` (checked against ``arch``)."""
    if criterion not in CRITERIA:
        raise UserError("criterion %r: expected 'weight' or 'activation'" % (criterion,))
    values = checkpoint_io.read_checkpoint(ckpt_prefix)
    graph, images, endpoints, registry = build_model_graph(
        arch, pixel_mean or DEFAULT_PIXEL_MEAN, pixel_std or DEFAULT_PIXEL_STD)
    with graph.as_default():
        model_variables = tf.global_variables()
        checkpoint_io.check_matches(ckpt_prefix, checkpoint_io.shapes_of(values), model_variables)
        if criterion == 'weight':
            return filter_norms(values, registry)
        if calib_images is None:
            raise UserError('the activation criterion needs calibration images (calib_images)')
        with tf.Session(graph=graph) as session:
            tf.train.Saver(var_list=model_variables).restore(session, ckpt_prefix)
            return activation_maxima(session, images, endpoints, registry, calib_images)


def select_channels(ckpt_prefix, arch, criterion='weight', eps=DEFAULT_EPS, calib_images=None,
                    pixel_mean=None, pixel_std=None):
    """{layer: sorted kept channel indices} of the checkpoint (of architecture ``arch``) under ``criterion``.

    pixel_mean / pixel_std (the activation criterion's input normalisation) default to the training
    config's defaults; pass config.DATA.PIXEL_MEAN / PIXEL_STD when they differ.
    """
    scores = channel_scores(ckpt_prefix, arch, criterion, calib_images, pixel_mean, pixel_std)
    return kept_from_scores(scores, eps)


def hard_prune_checkpoint(ckpt_prefix, kept, out_prefix):
    """Copy the checkpoint to ``out_prefix`` with every pruned filter's weights and bias exactly zero.

    All other variables (global_step, optimizer slots, ...) are copied unchanged, and a slim
    checkpoint's .arch.json travels along. The dense graph on this checkpoint computes what the slim one does.
    """
    values = checkpoint_io.read_checkpoint(ckpt_prefix)
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
    checkpoint_io.write_checkpoint(values, out_prefix)
    checkpoint_io.copy_arch_file(ckpt_prefix, out_prefix)
    return out_prefix
