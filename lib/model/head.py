"""Detection heads: per level a 3x3 conv to 4 box offsets and a 3x3 conv to 2 class logits per anchor."""
import tensorflow.compat.v1 as tf

from lib.model import layers

MAXOUT_BACKGROUNDS = 3


def _flatten(x, depth):
    """[N, H, W, depth] -> [N, H * W, depth] (row-major, the anchors' order)."""
    return tf.reshape(x, [tf.shape(x)[0], -1, depth])


def shot_head(recorder, features, source_names, shot, maxout):
    """Box offsets [N, A, 4] and class logits [N, A, 2] of one shot over all levels.

    Level 0 with ``maxout`` predicts 3 background logits and keeps their max (fewer false positives
    among the many small anchors).
    """
    boxes, logits = [], []
    for level, (feature, source) in enumerate(zip(features, source_names)):
        scope = 'head/%s/level%d' % (shot, level)
        box = layers.conv2d(recorder, feature, 4, 3, scope + '/box', 'heads', input_source=source,
                            activation=None, weights_stddev=0.01)
        use_maxout = maxout and level == 0
        cls = layers.conv2d(recorder, feature, MAXOUT_BACKGROUNDS + 1 if use_maxout else 2, 3, scope + '/cls',
                            'heads', input_source=source, activation=None, weights_stddev=0.01)
        if use_maxout:
            background = tf.reduce_max(cls[..., :MAXOUT_BACKGROUNDS], axis=3, keepdims=True)
            cls = tf.concat([background, cls[..., MAXOUT_BACKGROUNDS:]], axis=3)
        boxes.append(_flatten(box, 4))
        logits.append(_flatten(cls, 2))
    return tf.concat(boxes, axis=1), tf.concat(logits, axis=1)
