"""DSFD's second-shot feature enhancement, as the original builds it: a cascaded FPN over levels 2 -> 1 -> 0,
then a FEM (three dilated branches) on every level.

FPN (1x1 convs, no activation): p2 = lateral/res2(of2) * up(merge/res2(of3)), p1 = lateral/res1(of1) *
up(merge/res1(p2)), p0 = lateral/res0(of0) * up(merge/res0(p1)); levels 3..5 pass through. FEM ``fems{i}``
(3x3 + ReLU): eyes_1 (rate 1) | eyes_2_1 (rate 2) -> eyes_2 (rate 1) | eyes_2_1 -> eyes_3_1 (rate 2) -> eyes_3,
concatenated [eyes_1, eyes_2, eyes_3]; eyes_2_1 is shared by the two deeper branches.
"""
import tensorflow.compat.v1 as tf

from lib.model import layers

FPN_LEVELS = (2, 1, 0)


def fpn(recorder, sources, source_names, dims):
    """The six maps the FEM enhances: [p0, p1, p2, of3, of4, of5]; ``dims`` are the widths of levels 0, 1, 2."""
    outputs = list(sources)
    top, top_source = sources[3], source_names[3]
    for level in FPN_LEVELS:
        lateral = layers.conv2d(recorder, sources[level], dims[level], 1, 'lateral/res%d' % level, 'fpn_fem',
                                input_source=source_names[level], activation=None)
        merge = layers.conv2d(recorder, top, dims[level], 1, 'merge/res%d' % level, 'fpn_fem',
                              input_source=top_source, activation=None)
        top, top_source = lateral * layers.upsample2(merge, lateral), None
        outputs[level] = top
    return outputs


def fem(recorder, x, dims, scope, input_source=None):
    """One FEM: ``dims`` // 2 + 2 x (``dims`` // 4) output channels (256 + 128 + 128 for the original's 512)."""
    half, quarter = max(1, dims // 2), max(1, dims // 4)

    def conv(inputs, width, name, rate, source=None):
        return layers.conv2d(recorder, inputs, width, 3, '%s/%s' % (scope, name), 'fpn_fem', input_source=source,
                             dilation=rate)
    eyes_1 = conv(x, half, 'eyes_1', 1, input_source)
    eyes_2_1 = conv(x, half, 'eyes_2_1', 2, input_source)
    eyes_2 = conv(eyes_2_1, quarter, 'eyes_2', 1)
    eyes_3_1 = conv(eyes_2_1, quarter, 'eyes_3_1', 2)
    eyes_3 = conv(eyes_3_1, quarter, 'eyes_3', 1)
    return tf.concat([eyes_1, eyes_2, eyes_3], axis=3)
