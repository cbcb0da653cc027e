"""The prunable layers of a built DSFD graph and every consumer of their output channels.

Derived from the graph's LayerRecorder, so it cannot drift from the model code: the consumers of layer X
are the convs recorded with ``input_source == X``: the next conv, the extras, the first-shot heads on a source,
the cascaded FPN's lateral/res{i} (of0..of2) and merge/res2 (of3 = fc7), and the FEM convs eyes_1 and eyes_2_1
of levels 3..5 (which read fc7, extra_conv2, extra_conv4 directly). Pooling, ReLU and the constant L2Norm pass
channels through unchanged (a dead channel changes no norm); the FPN products and later maps are not prunable
layers' channels, so their convs are nobody's consumers here.
"""
import collections

import tensorflow.compat.v1 as tf

from lib.model.arch import PRUNABLE_LAYERS
from lib.model.dsfd import build_dsfd

PrunableLayer = collections.namedtuple('PrunableLayer', 'name conv consumers')
PrunableLayer.__doc__ = """name: layer name = its variable scope (e.g. 'fc6'); conv: the ConvRecord producing the
channels; consumers: ConvRecords reading them (input axis)."""


def build_registry(recorder):
    """OrderedDict {layer name: PrunableLayer} in pruned_ratio order, read off ``recorder``."""
    registry = collections.OrderedDict()
    for name in PRUNABLE_LAYERS:
        registry[name] = PrunableLayer(name, recorder.conv(name),
                                       [conv for conv in recorder.convs if conv.input_source == name])
    return registry


def variable_slices(registry, kept):
    """{model variable: [(axis, kept indices)]} for slimming: output axis of each pruned layer's weights
    and biases, input axis of every consumer's weights."""
    slices = collections.defaultdict(list)
    for name, layer in registry.items():
        if name not in kept:
            continue
        indices = kept[name]
        slices[layer.conv.weights].append((3, indices))
        slices[layer.conv.biases].append((0, indices))
        for consumer in layer.consumers:
            slices[consumer.weights].append((2, indices))
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
