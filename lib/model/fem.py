"""DSFD's second-shot feature enhancement: FPN-style top-down product, then the FEM dilated branches."""
import tensorflow.compat.v1 as tf

from lib.model import layers


def fpn(recorder, sources, source_names, dims):
    """Level i: relu(1x1 lateral of source i) x upsampled relu(1x1 of source i + 1); the top level: lateral alone."""
    outputs = []
    for level, (feature, name) in enumerate(zip(sources, source_names)):
        lateral = layers.conv2d(recorder, feature, dims, 1, 'fpn/lateral_%d' % level, 'fpn_fem',
                                input_source=name)
        if level + 1 < len(sources):
            top = layers.conv2d(recorder, sources[level + 1], dims, 1, 'fpn/top_down_%d' % level, 'fpn_fem',
                                input_source=source_names[level + 1])
            top = tf.image.resize_nearest_neighbor(top, tf.shape(lateral)[1:3])
            lateral = lateral * top
        outputs.append(lateral)
    return outputs


def fem(recorder, x, dims, scope, dilation=3):
    """Three dilated 3x3 branches of depth 1, 2 and 3 concatenated to ``dims`` channels."""
    quarter = max(1, dims // 4)
    widths = [dims - 2 * quarter, quarter, quarter]
    branches = []
    for index, width in enumerate(widths, start=1):
        y = x
        for depth in range(index):
            y = layers.conv2d(recorder, y, width, 3, '%s/branch%d_%d' % (scope, index, depth + 1), 'fpn_fem',
                              dilation=dilation)
        branches.append(y)
    return tf.concat(branches, axis=3)
