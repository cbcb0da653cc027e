"""The prunable layers of a built DSFD graph and every consumer of their output channels.

Derived from the graph's LayerRecorder, so it cannot drift from the model code: the consumers of layer X
are the convs recorded with ``input_source == X`` (next conv, FPN lateral / top-down, first-shot heads,
extras) plus X's L2Norm scale. Pooling, ReLU and L2Norm pass channels through unchanged.
"""
import collections

import tensorflow.compat.v1 as tf

from lib.model.arch import PRUNABLE_LAYERS
from lib.model.dsfd import build_dsfd

PrunableLayer = collections.namedtuple('PrunableLayer', 'name conv consumers scales')
PrunableLayer.__doc__ = """name: registry name (e.g. 'fc6'); conv: the ConvRecord producing the channels;
consumers: ConvRecords reading them (input axis); scales: ScaleRecords of them (L2Norm)."""


def layer_scope(name):
    """Variable scope of a prunable layer: fc6/fc7 live under vgg_16/ (TF-slim names)."""
    return 'vgg_16/' + name if name in ('fc6', 'fc7') else name


def registry_name(scope):
    """The registry name of a conv scope when it is a prunable layer, else the scope itself."""
    for name in PRUNABLE_LAYERS:
        if layer_scope(name) == scope:
            return name
    return scope


def build_registry(recorder):
    """OrderedDict {layer name: PrunableLayer} in pruned_ratio order, read off ``recorder``."""
    registry = collections.OrderedDict()
    for name in PRUNABLE_LAYERS:
        registry[name] = PrunableLayer(
            name, recorder.conv(layer_scope(name)),
            [conv for conv in recorder.convs if conv.input_source == name],
            [scale for scale in recorder.scales if scale.input_source == name])
    return registry


def variable_slices(registry, kept):
    """{model variable: [(axis, kept indices)]} for slimming: output axis of each pruned layer's weights
    and biases, input axis of every consumer's weights, and the channel axis of L2Norm scales."""
    slices = collections.defaultdict(list)
    for name, layer in registry.items():
        if name not in kept:
            continue
        indices = kept[name]
        slices[layer.conv.weights].append((3, indices))
        slices[layer.conv.biases].append((0, indices))
        for consumer in layer.consumers:
            slices[consumer.weights].append((2, indices))
        for scale in layer.scales:
            slices[scale.variable].append((0, indices))
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
