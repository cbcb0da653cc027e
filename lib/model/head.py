"""Detection heads, with the original's names: per level ``out_reg{i}`` (3x3 -> 4 box offsets per anchor) and
``out_cla{i}`` (3x3 -> 2 logits per anchor, [background, face]).

Level 0 with ``maxout`` has ``maxout0/negative/out_cla0`` (3x3 -> 6 channels: three background candidates per
anchor for the original's two anchor ratios; per anchor a of this head channels 3a .. 3a + 2 are max-reduced into
its background logit, the rest are unused) and ``maxout0/positive/out_cla1`` (3x3 -> one face logit per anchor).
"""
import tensorflow.compat.v1 as tf

from lib.model import layers

MAXOUT_BACKGROUNDS = 3
MAXOUT_ANCHORS = 2  # the negative conv always has channels for two anchors, as in the original


def _flatten(x, depth):
    """[N, H, W, A * depth] -> [N, H * W * A, depth] (row-major, then anchor: the anchors' order)."""
    return tf.reshape(x, [tf.shape(x)[0], -1, depth])


def _maxout_logits(recorder, feature, scope, anchors, source):
    negative = layers.conv2d(recorder, feature, MAXOUT_BACKGROUNDS * MAXOUT_ANCHORS, 3,
                             scope + '/maxout0/negative/out_cla0', 'heads', input_source=source, activation=None,
                             weights_stddev=0.01)
    positive = layers.conv2d(recorder, feature, anchors, 3, scope + '/maxout0/positive/out_cla1', 'heads',
                             input_source=source, activation=None, weights_stddev=0.01)
    background = tf.stack([tf.reduce_max(negative[..., MAXOUT_BACKGROUNDS * a:MAXOUT_BACKGROUNDS * (a + 1)], axis=3)
                           for a in range(anchors)], axis=3)
    return tf.stack([background, positive], axis=4)


def shot_head(recorder, features, source_names, scope, maxout, anchors):
    """Box offsets [N, A, 4] and class logits [N, A, 2] of one shot (heads under ``scope``) over all levels,
    ``anchors`` predictions per pixel; ``source_names``: the pruning group(s) each level's feature carries (the
    heads keep their outputs and lose pruned input channels)."""
    boxes, logits = [], []
    for level, (feature, source) in enumerate(zip(features, source_names)):
        box = layers.conv2d(recorder, feature, 4 * anchors, 3, '%s/out_reg%d' % (scope, level), 'heads',
                            input_source=source, activation=None, weights_stddev=0.01)
        if maxout and level == 0:
            cls = _maxout_logits(recorder, feature, scope, anchors, source)
        else:
            cls = layers.conv2d(recorder, feature, 2 * anchors, 3, '%s/out_cla%d' % (scope, level), 'heads',
                                input_source=source, activation=None, weights_stddev=0.01)
        boxes.append(_flatten(box, 4))
        logits.append(_flatten(cls, 2))
    return tf.concat(boxes, axis=1), tf.concat(logits, axis=1)
