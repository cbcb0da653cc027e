"""Sparsity losses that drive channels of the pruning groups towards removal, and live-channel fractions.

Every loss picks, per group, the channels the ratio targets (C minus kept_count: floor(ratio * C) when round_to
is 1) that are the "weakest" of the moment and pushes only those:
- 'activation' (the original method, in batch form): a channel's strength is the largest |value| of the group's
  feature over H, W and the batch (its ReLU output; for an FPN level, the product lateral * up(merge), whose
  channel is dead when either factor's is), the very quantity the alive fraction thresholds, so the loss reaches 0
  exactly when the weakest channels are dead on the whole batch; the loss is the mean strength of the weakest.
- 'activation_per_image' (the original's exact form): per image, each channel's maximum over H, W; per image the
  targeted number of lowest ones (each image picks its own channels); the mean over images and those channels.
  It shrinks channels but kills fewer: a channel is removable only when it is dead on every image.
- 'group_lasso': a channel's strength is the L2 norm of its output filter group over the group's convs (weights
  [k, k, cin, c] slices plus biases c; both FPN convs of a level); the loss is the sum of the weakest norms, which
  drives whole filters to removable zeros.
Per-group terms are summed over groups and multiplied by alpha. Groups whose ratio targets no channel add nothing.
"""
import math

import tensorflow.compat.v1 as tf

from lib.common.errors import UserError

PRUNING_LOSSES = ('activation', 'activation_per_image', 'group_lasso')
ALIVE_THRESHOLD = 1e-6
# Keeps the gradient of a filter norm finite once the filter reaches exactly zero.
_NORM_EPSILON = 1e-12


def rounded_up(count, channels, round_to=1):
    """``count`` rounded up to a multiple of ``round_to``, never above ``channels``."""
    return min(channels, -(-count // round_to) * round_to)


def kept_count(ratio, channels, round_to=1):
    """Channels a group keeps under ``ratio``: C - floor(ratio * C), rounded up to a multiple of ``round_to``
    (never above C)."""
    return rounded_up(channels - int(math.floor(ratio * channels + 1e-9)), channels, round_to)


def num_targeted(ratio, channels, round_to=1):
    """How many channels a group's ratio selects: C - kept_count (floor(ratio * C) when ``round_to`` is 1)."""
    return channels - kept_count(ratio, channels, round_to)


def channel_maxima(feature):
    """[N, H, W, C] feature -> [C]: the largest |value| over the batch, H and W (a ReLU output's maximum)."""
    return tf.reduce_max(tf.abs(feature), axis=[0, 1, 2])


def filter_norms(*convs):
    """[C] L2 norm of each output filter group (weights slices and biases) over the given ConvRecords (a group's
    convs, which share their output channels)."""
    squares = tf.add_n([tf.reduce_sum(tf.square(conv.weights), axis=[0, 1, 2]) + tf.square(conv.biases)
                        for conv in convs])
    return tf.sqrt(squares + _NORM_EPSILON)


def _lowest(values, k):
    """The k smallest entries of a tensor along its last axis."""
    return -tf.nn.top_k(-values, k=k, sorted=False).values


def layer_strengths(endpoints, layer, kind):
    """Per-channel strength of one pruning group as the loss ``kind`` measures it: [C], or [N, C] per image."""
    if kind == 'activation':
        return channel_maxima(endpoints.features[layer])
    if kind == 'activation_per_image':
        return tf.reduce_max(tf.abs(endpoints.features[layer]), axis=[1, 2])
    return filter_norms(*endpoints.recorder.group_convs(layer))


def layer_terms(endpoints, ratios, kind, round_to=1):
    """{group: scalar} pruning term of every group that targets at least one channel (before alpha)."""
    if kind not in PRUNING_LOSSES:
        raise UserError('pruned_loss = %r: expected one of %s' % (kind, ', '.join(PRUNING_LOSSES)))
    terms = {}
    for layer, ratio in ratios.items():
        channels = endpoints.features[layer].get_shape().as_list()[-1]
        k = num_targeted(ratio, channels, round_to)
        if k == 0:
            continue
        lowest = _lowest(layer_strengths(endpoints, layer, kind), k)
        terms[layer] = tf.reduce_sum(lowest) if kind == 'group_lasso' else tf.reduce_mean(lowest)
    return terms


def pruning_loss(endpoints, ratios, kind, alpha, round_to=1):
    """alpha x the summed per-group terms; a constant 0 when alpha == 0 or no group targets a channel."""
    terms = layer_terms(endpoints, ratios, kind, round_to) if alpha > 0 else {}
    if not terms:
        return tf.constant(0., tf.float32)
    return float(alpha) * tf.add_n([terms[layer] for layer in sorted(terms)])


def alive_fractions(features):
    """{group: fraction of channels whose largest |value| over the batch (and H, W) exceeds 1e-6}."""
    return {layer: tf.reduce_mean(tf.cast(channel_maxima(feature) > ALIVE_THRESHOLD, tf.float32))
            for layer, feature in features.items()}
