"""Sparsity losses that drive channels of the prunable layers towards removal, and live-channel fractions.

Both losses pick, per layer, the floor(ratio * C) "weakest" channels of the moment and push only those:
- 'activation' (the original method, in batch form): a channel's strength is its ReLU output maximum over H, W
  and the batch, the very quantity the alive fraction thresholds, so the loss reaches 0 exactly when the weakest
  channels are dead on the whole batch; the loss is the mean strength of the weakest channels.
- 'activation_per_image' (the original's exact form): per image, each channel's maximum over H, W; per image the
  floor(ratio * C) lowest of them (each image picks its own channels); the mean over images and those channels.
  It shrinks channels but kills fewer: a channel is removable only when it is dead on every image.
- 'group_lasso': a channel's strength is the L2 norm of its output filter group (weights [k, k, cin, c] slice plus
  bias c); the loss is the sum of the weakest norms, which drives whole filters to removable zeros.
Per-layer terms are summed over layers and multiplied by alpha. Layers whose ratio selects no channel add nothing.
"""
import math

import tensorflow.compat.v1 as tf

from lib.common.errors import UserError

PRUNING_LOSSES = ('activation', 'activation_per_image', 'group_lasso')
ALIVE_THRESHOLD = 1e-6
# Keeps the gradient of a filter norm finite once the filter reaches exactly zero.
_NORM_EPSILON = 1e-12


def num_targeted(ratio, channels):
    """How many channels a layer's ratio selects: floor(ratio * C)."""
    return int(math.floor(ratio * channels + 1e-9))


def channel_maxima(feature):
    """[N, H, W, C] ReLU output -> [C]: max over the batch, H and W."""
    return tf.reduce_max(feature, axis=[0, 1, 2])


def filter_norms(conv):
    """[C] L2 norm of each output filter group (weights slice and bias) of one ConvRecord."""
    squares = tf.reduce_sum(tf.square(conv.weights), axis=[0, 1, 2]) + tf.square(conv.biases)
    return tf.sqrt(squares + _NORM_EPSILON)


def _lowest(values, k):
    """The k smallest entries of a tensor along its last axis."""
    return -tf.nn.top_k(-values, k=k, sorted=False).values


def layer_strengths(endpoints, layer, kind):
    """Per-channel strength of one prunable layer as the loss ``kind`` measures it: [C], or [N, C] per image."""
    if kind == 'activation':
        return channel_maxima(endpoints.features[layer])
    if kind == 'activation_per_image':
        return tf.reduce_max(endpoints.features[layer], axis=[1, 2])
    return filter_norms(endpoints.recorder.conv(layer))


def layer_terms(endpoints, ratios, kind):
    """{layer: scalar} pruning term of every layer that targets at least one channel (before alpha)."""
    if kind not in PRUNING_LOSSES:
        raise UserError('pruned_loss = %r: expected one of %s' % (kind, ', '.join(PRUNING_LOSSES)))
    terms = {}
    for layer, ratio in ratios.items():
        channels = endpoints.features[layer].get_shape().as_list()[-1]
        k = num_targeted(ratio, channels)
        if k == 0:
            continue
        lowest = _lowest(layer_strengths(endpoints, layer, kind), k)
        terms[layer] = tf.reduce_sum(lowest) if kind == 'group_lasso' else tf.reduce_mean(lowest)
    return terms


def pruning_loss(endpoints, ratios, kind, alpha):
    """alpha x the summed per-layer terms; a constant 0 when alpha == 0 or no layer targets a channel."""
    terms = layer_terms(endpoints, ratios, kind) if alpha > 0 else {}
    if not terms:
        return tf.constant(0., tf.float32)
    return float(alpha) * tf.add_n([terms[layer] for layer in sorted(terms)])


def alive_fractions(features):
    """{layer: fraction of channels whose max activation over the batch (and H, W) exceeds 1e-6}."""
    return {layer: tf.reduce_mean(tf.cast(channel_maxima(feature) > ALIVE_THRESHOLD, tf.float32))
            for layer, feature in features.items()}
