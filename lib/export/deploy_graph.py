"""What an ONNX, OpenVINO or TFLite file needs from a frozen ``detector.pb`` besides its layers: the pixel mean it
pads with and the NMS settings, read off the graph itself; stored in the file's metadata under METADATA_KEY. Also
the calibration inputs of every int8 export."""
import json

import numpy as np
import tensorflow.compat.v1 as tf

from lib.common.errors import UserError
from lib.common.image import letterbox
from lib.model.dsfd import INPUT_NAME

METADATA_KEY = 'dsfd'
NMS_OP = 'CombinedNonMaxSuppression'
# CombinedNonMaxSuppression inputs: boxes [N, A, q, 4], scores [N, A, classes], then these scalars.
NMS_SETTINGS = ('max_per_class', 'max_detections', 'iou_threshold', 'score_threshold')


def tensor_name(node_input):
    """A GraphDef node input ('name' or 'name:1') as a tensor name."""
    return node_input if ':' in node_input else node_input + ':0'


def nms_node(graph_def):
    """The graph's one CombinedNonMaxSuppression node; a UserError when there is not exactly one."""
    nodes = [node for node in graph_def.node if node.op == NMS_OP]
    if len(nodes) != 1:
        raise UserError('the frozen graph has %d %s nodes, expected 1: export a detector.pb written by '
                        'tools/auto_freeze.py' % (len(nodes), NMS_OP))
    return nodes[0]


def graph_settings(graph_def):
    """{'pixel_mean': [r, g, b], 'iou_threshold', 'score_threshold', 'max_detections'} of a frozen detector."""
    node = nms_node(graph_def)
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(graph_def, name='')
        fetch = {name: tensor_name(node.input[2 + i]) for i, name in enumerate(NMS_SETTINGS)}
        try:
            graph.get_tensor_by_name('pixel_mean:0')
            fetch['pixel_mean'] = 'pixel_mean:0'
        except KeyError:
            pass
        with tf.Session(graph=graph) as session:
            values = session.run(fetch)
    return {'pixel_mean': [float(v) for v in np.ravel(values.get('pixel_mean', np.zeros(3)))],
            'iou_threshold': float(values['iou_threshold']),
            'score_threshold': float(values['score_threshold']),
            'max_detections': int(values['max_detections'])}


def raw_detection_graph(graph_def, input_size):
    """A new graph: ``images`` [1, H, W, 3] float32 -> the frozen detector's NMS inputs as ``boxes`` [1, A, 4]
    (normalised ymin, xmin, ymax, xmax) and ``scores`` [1, A]; returns (graph, images, boxes, scores)."""
    node = nms_node(graph_def)
    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.float32, [1, input_size[0], input_size[1], 3], name=INPUT_NAME)
        raw_boxes, raw_scores = tf.import_graph_def(
            graph_def, input_map={INPUT_NAME + ':0': images}, name='net',
            return_elements=[tensor_name(node.input[0]), tensor_name(node.input[1])])
        boxes = tf.reshape(raw_boxes, [1, -1, 4], name='boxes')
        scores = tf.reshape(raw_scores, [1, -1], name='scores')
    return graph, images, boxes, scores


def metadata_json(settings):
    """The metadata string stored in an exported file."""
    return json.dumps(settings, sort_keys=True)


def parse_metadata(text, path):
    """Settings from a file's metadata string; a UserError naming ``path`` when it is not ours."""
    try:
        settings = json.loads(text)
        settings['pixel_mean'] = np.asarray(settings['pixel_mean'], np.float64).reshape(3)
        return settings
    except (ValueError, KeyError, TypeError) as err:
        raise UserError('%s: its %r metadata is unreadable (%s); re-export it with tools/auto_freeze.py'
                        % (path, METADATA_KEY, err))


def calibration_inputs(images, input_size, pixel_mean):
    """int8 calibration batches: each RGB image letterboxed into ``input_size`` (padded with ``pixel_mean``, as
    FaceDetector pads), a list of float32 [1, H, W, 3]."""
    return [letterbox(image, input_size, pixel_mean)[0][None].astype(np.float32) for image in images]
