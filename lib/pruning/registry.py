"""The pruning groups of a built DSFD graph: the convs producing each group's channels and every consumer of them.

Derived from the graph's LayerRecorder, so it cannot drift from the model code. A group's convs are those
recorded with ``channel_group == group`` (one conv; both 1x1 convs of an FPN level, whose product is the level);
its consumers are the convs whose ``input_source`` names it: the next conv, the extras, the first-shot heads on a
source, the FPN's lateral/res{i} and merge/res{i} (reading of0..of2, of3 and the level above), the FEM's eyes_1 and
eyes_2_1 (reading an FPN level or of3..of5), eyes_2 and eyes_3_1 (both reading eyes_2_1), eyes_3, and the
second-shot heads, which read a FEM's concat [eyes_1, eyes_2, eyes_3] (an input_source tuple: channel offsets
follow the widths). Pooling, ReLU, upsampling and the constant L2Norm pass channels through unchanged (a dead
channel changes no norm).
"""
import collections

import tensorflow.compat.v1 as tf

from lib.model.arch import ALL_GROUPS
from lib.model.dsfd import build_dsfd
from lib.model.layers import source_groups

PrunableGroup = collections.namedtuple('PrunableGroup', 'name convs consumers feature')
PrunableGroup.__doc__ = """name: the group (a layer's scope such as 'fc6', 'fems0/eyes_2_1', or 'fpn/res1');
convs: the ConvRecords producing its channels (output axis); consumers: ConvRecords reading them (input axis);
feature: the map whose largest |value| per channel is its activation strength (ReLU output or FPN product)."""


def build_registry(recorder):
    """OrderedDict {group: PrunableGroup} in ALL_GROUPS order (backbone, extras, FPN, FEM), read off ``recorder``."""
    registry = collections.OrderedDict()
    for name in sorted(recorder.features, key=ALL_GROUPS.index):
        registry[name] = PrunableGroup(name, recorder.group_convs(name),
                                       [conv for conv in recorder.convs if name in source_groups(conv.input_source)],
                                       recorder.features[name])
    return registry


def group_width(group):
    """The channel count of a PrunableGroup in the graph it was read from."""
    return group.convs[0].weights.get_shape().as_list()[-1]


def input_indices(registry, conv, kept):
    """The input channels ``conv`` keeps when each group of ``kept`` ({group: indices}) keeps those: offsets of
    a concatenated input shift by the widths of the groups before it."""
    indices, offset = [], 0
    for source in source_groups(conv.input_source):
        width = group_width(registry[source])
        indices.extend(offset + int(i) for i in kept.get(source, range(width)))
        offset += width
    return indices


def variable_slices(registry, kept):
    """{model variable: [(axis, kept indices)]} for slimming: output axis of each pruned group's convs (weights
    and biases), input axis of every consumer's weights."""
    slices = collections.defaultdict(list)
    consumers = collections.OrderedDict()
    for name, group in registry.items():
        if name not in kept:
            continue
        for conv in group.convs:
            slices[conv.weights].append((3, kept[name]))
            slices[conv.biases].append((0, kept[name]))
        consumers.update((conv.name, conv) for conv in group.consumers)
    for conv in consumers.values():
        slices[conv.weights].append((2, input_indices(registry, conv, kept)))
    return slices


def build_model_graph(arch, pixel_mean=(0., 0., 0.), pixel_std=(1., 1., 1.), input_shape=None):
    """A fresh graph holding the DSFD of ``arch`` on an ``images`` placeholder -> (graph, images, endpoints, registry).

    Enough for reading names, shapes and features; detection outputs are not built.
    """
    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.float32, input_shape or [None, None, None, 3], name='images')
        endpoints = build_dsfd(images, arch, pixel_mean, pixel_std)
    return graph, images, endpoints, build_registry(endpoints.recorder)
