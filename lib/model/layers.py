"""Small graph-mode layer helpers with TF-slim variable names (`<scope>/weights`, `<scope>/biases`).

Every conv is recorded as a ConvRecord (which pruning groups' channels it reads, which MAC-report group and
which pruning group it belongs to), so MAC counting, weight decay and channel slicing all read the same facts off
the built graph.
"""
import collections

import tensorflow.compat.v1 as tf

ConvRecord = collections.namedtuple(
    'ConvRecord', 'name group weights biases output input_source kernel stride dilation channel_group')
ConvRecord.__doc__ = """group: the MAC report's part ('backbone', 'extras', 'fpn_fem', 'heads'); input_source: the
pruning group whose channels the input carries, a tuple of groups for a channel concatenation (in order), or None;
channel_group: the pruning group the output channels belong to (None for heads, which keep their outputs)."""


def source_groups(input_source):
    """The pruning groups an input carries, in channel order: () for None, (g,) for one group, the tuple as is."""
    if input_source is None:
        return ()
    return (input_source,) if isinstance(input_source, str) else tuple(input_source)


class LayerRecorder(object):
    """Collects the convs of one model build and each pruning group's feature: the map whose per-channel largest
    |value| says whether a channel is alive (a ReLU output, or the FPN product of a level).

    ``native_dilation`` builds dilated convs as one Conv2D with ``dilations`` (inference graphs: faster on CPUs,
    one Conv in ONNX / OpenVINO / TFLite, exactly counted by TF's profiler) instead of tf.nn.convolution's
    SpaceToBatch / BatchToSpace pair, which training keeps: TF 1.15's CPU kernels have no gradient for the former.
    """

    def __init__(self, native_dilation=False):
        self.native_dilation = native_dilation
        self.convs = []
        self.features = collections.OrderedDict()

    def conv(self, name):
        for record in self.convs:
            if record.name == name:
                return record
        raise KeyError(name)

    def group_convs(self, group):
        """The convs whose output channels make pruning group ``group`` (one; both 1x1 convs of an FPN level)."""
        return [record for record in self.convs if record.channel_group == group]


def dilated_conv2d(x, weights, dilation):
    """A stride-1 SAME conv with ``dilation`` as one native Conv2D on an explicitly padded input: onnxruntime
    rejects dilations with ONNX's SAME auto-padding, which tf2onnx writes for a SAME conv of dynamic shape."""
    pad = dilation * (weights.get_shape().as_list()[0] - 1) // 2
    padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    return tf.nn.conv2d(padded, weights, strides=[1, 1, 1, 1], padding='VALID', dilations=[1, dilation, dilation, 1])


def conv2d(recorder, x, out_channels, kernel, scope, group, input_source=None, stride=1, dilation=1,
           activation=tf.nn.relu, weights_stddev=None, channel_group=None):
    """SAME conv + bias (+ activation). ``input_source`` names the pruning group(s) whose channels ``x`` carries;
    ``channel_group`` the group of its outputs (its feature is recorded when the conv has an activation; a group
    made of convs without one records its feature itself).

    Weights use He (fan-in) initialisation before a ReLU, Glorot (the original's Xavier) without one, unless
    ``weights_stddev`` asks for a small normal (heads). Dilated convs go through tf.nn.convolution, as TF-slim's
    ``rate`` does, unless the recorder asks for native ones.
    """
    in_channels = x.get_shape().as_list()[-1]
    if weights_stddev is not None:
        initializer = tf.random_normal_initializer(stddev=weights_stddev)
    elif activation is None:
        initializer = tf.glorot_uniform_initializer()
    else:
        initializer = tf.variance_scaling_initializer(scale=2.0, mode='fan_in', distribution='truncated_normal')
    with tf.variable_scope(scope) as var_scope:
        weights = tf.get_variable('weights', [kernel, kernel, in_channels, out_channels], initializer=initializer)
        biases = tf.get_variable('biases', [out_channels], initializer=tf.zeros_initializer())
        if dilation == 1:
            y = tf.nn.conv2d(x, weights, strides=[1, stride, stride, 1], padding='SAME')
        elif recorder.native_dilation:
            y = dilated_conv2d(x, weights, dilation)
        else:
            y = tf.nn.convolution(x, weights, padding='SAME', dilation_rate=[dilation, dilation])
        y = tf.nn.bias_add(y, biases)
        if activation is not None:
            y = activation(y)
    recorder.convs.append(ConvRecord(var_scope.name, group, weights, biases, y, input_source,
                                     kernel, stride, dilation, channel_group))
    if channel_group is not None and activation is not None:
        recorder.features[channel_group] = y
    return y


def max_pool(x, name):
    """2x2 / 2 max pooling (VALID, as in VGG; inputs are multiples of 32 so nothing is dropped)."""
    return tf.nn.max_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding='VALID', name=name)


def l2_norm(x, scale, name):
    """Channel-wise L2 normalisation times a constant ``scale`` (the original's, not a variable): dead (zero)
    channels change no norm, so pruning leaves it exact."""
    with tf.name_scope(name):
        return scale * tf.nn.l2_normalize(x, axis=3)


def upsample2(x, like):
    """Nearest-neighbour upsampling of ``x`` to the height and width of ``like`` (2x in the FPN: each pixel
    repeated 2 x 2, as Keras' UpSampling2D)."""
    return tf.image.resize_nearest_neighbor(x, tf.shape(like)[1:3])
