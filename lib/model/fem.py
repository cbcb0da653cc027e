"""DSFD's second-shot feature enhancement, as the original builds it: a cascaded FPN over levels 2 -> 1 -> 0,
then a FEM (three dilated branches) on every level.

FPN (1x1 convs, no activation): p2 = lateral/res2(of2) * up(merge/res2(of3)), p1 = lateral/res1(of1) *
up(merge/res1(p2)), p0 = lateral/res0(of0) * up(merge/res0(p1)); levels 3..5 pass through. FEM ``fems{i}``
(3x3 + ReLU): eyes_1 (rate 1) | eyes_2_1 (rate 2) -> eyes_2 (rate 1) | eyes_2_1 -> eyes_3_1 (rate 2) -> eyes_3,
concatenated [eyes_1, eyes_2, eyes_3]; eyes_2_1 is shared by the two deeper branches.

Pruning groups (lib.model.arch): both convs of an FPN level make one group 'fpn/res{i}' (a product channel is
dead when either factor's is, so they lose it together; the product is the group's feature); every FEM conv is
its own group, and the concat's channels are recorded as the tuple of its three groups, in order.
"""
import tensorflow.compat.v1 as tf

from lib.model import layers
from lib.model.arch import FEM_BRANCHES, FPN_GROUPS, fpn_conv

FPN_LEVELS = (2, 1, 0)


def fpn(recorder, sources, source_names, channels):
    """The six maps the FEM enhances, [p0, p1, p2, of3, of4, of5], and the pruning groups each carries;
    ``channels``: {group: width} (an Architecture's channels)."""
    outputs, names = list(sources), list(source_names)
    top, top_source = sources[3], source_names[3]
    for level in FPN_LEVELS:
        group = FPN_GROUPS[level]
        lateral = layers.conv2d(recorder, sources[level], channels[group], 1, fpn_conv('lateral', level), 'fpn_fem',
                                input_source=source_names[level], activation=None, channel_group=group)
        merge = layers.conv2d(recorder, top, channels[group], 1, fpn_conv('merge', level), 'fpn_fem',
                              input_source=top_source, activation=None, channel_group=group)
        top, top_source = lateral * layers.upsample2(merge, lateral), group
        recorder.features[group] = top
        outputs[level], names[level] = top, group
    return outputs, names


def fem(recorder, x, channels, scope, input_source=None):
    """One FEM ``scope`` ('fems{i}') on ``x`` (carrying group(s) ``input_source``): the concat [eyes_1, eyes_2,
    eyes_3] (dense: fem_dims // 2 + 2 x fem_dims // 4 channels) and the tuple of the groups it carries."""
    groups = dict((branch, '%s/%s' % (scope, branch)) for branch in FEM_BRANCHES)

    def conv(inputs, branch, rate, source):
        return layers.conv2d(recorder, inputs, channels[groups[branch]], 3, groups[branch], 'fpn_fem',
                             input_source=source, dilation=rate, channel_group=groups[branch])
    eyes_1 = conv(x, 'eyes_1', 1, input_source)
    eyes_2_1 = conv(x, 'eyes_2_1', 2, input_source)
    eyes_2 = conv(eyes_2_1, 'eyes_2', 1, groups['eyes_2_1'])
    eyes_3_1 = conv(eyes_2_1, 'eyes_3_1', 2, groups['eyes_2_1'])
    eyes_3 = conv(eyes_3_1, 'eyes_3', 1, groups['eyes_3_1'])
    return tf.concat([eyes_1, eyes_2, eyes_3], axis=3), (groups['eyes_1'], groups['eyes_2'], groups['eyes_3'])
