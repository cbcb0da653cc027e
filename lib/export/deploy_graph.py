"""What an ONNX, OpenVINO or TFLite file needs from a frozen ``detector.pb`` besides its layers: the pixel mean it
pads with and the NMS settings, read off the graph itself; stored in the file's metadata under METADATA_KEY. Also
the calibration inputs of every int8 export, and the parts of the frozen graph other files and benchmarks are cut
from: the raw boxes and scores before NMS, and the network alone."""
import json

import numpy as np
import tensorflow.compat.v1 as tf

from lib.common.errors import UserError
from lib.common.image import letterbox
from lib.model.dsfd import INPUT_NAME, NETWORK_OUTPUTS, PRE_NMS_INDICES, PRE_NMS_TOP_K

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
    """{'pixel_mean': [r, g, b], 'iou_threshold', 'score_threshold', 'max_detections', 'pre_nms_top_k'} of a
    frozen detector; pre_nms_top_k is None for a graph frozen before it existed (NMS on every anchor)."""
    node = nms_node(graph_def)
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(graph_def, name='')
        fetch = {name: tensor_name(node.input[2 + i]) for i, name in enumerate(NMS_SETTINGS)}
        for name in ('pixel_mean', PRE_NMS_TOP_K):
            try:
                fetch[name] = graph.get_tensor_by_name(name + ':0')
            except KeyError:
                pass
        with tf.Session(graph=graph) as session:
            values = session.run(fetch)
    return {'pixel_mean': [float(v) for v in np.ravel(values.get('pixel_mean', np.zeros(3)))],
            'iou_threshold': float(values['iou_threshold']),
            'score_threshold': float(values['score_threshold']),
            'max_detections': int(values['max_detections']),
            'pre_nms_top_k': int(values[PRE_NMS_TOP_K]) if PRE_NMS_TOP_K in values else None}


def _has_node(graph_def, name):
    return any(node.name == name for node in graph_def.node)


def _imported(graph_def, input_size, fetches, input_map=None):
    """A new graph: ``images`` [1, H, W, 3] float32 fed to the frozen detector (imported under ``net/``, with
    ``input_map``: {tensor name: function of the graph returning its replacement}); returns (graph, images,
    [the tensors ``fetches`` of the import])."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.float32, [1, input_size[0], input_size[1], 3], name=INPUT_NAME)
        mapping = {INPUT_NAME + ':0': images}
        mapping.update((name, make()) for name, make in (input_map or {}).items())
        tensors = tf.import_graph_def(graph_def, input_map=mapping, name='net', return_elements=list(fetches))
    return graph, images, tensors


def raw_detection_graph(graph_def, input_size):
    """A new graph: ``images`` [1, H, W, 3] float32 -> the frozen detector's NMS inputs for every anchor, in
    anchor order, as ``boxes`` [1, A, 4] (normalised ymin, xmin, ymax, xmax) and ``scores`` [1, A]; returns
    (graph, images, boxes, scores). The graph's pre-NMS top-k is undone (its indices mapped to every anchor):
    whoever runs NMS on these keeps the top ``graph_settings()['pre_nms_top_k']`` (lib.inference.nms)."""
    node = nms_node(graph_def)
    nms_inputs = [tensor_name(node.input[0]), tensor_name(node.input[1])]
    input_map = None
    if _has_node(graph_def, PRE_NMS_INDICES):  # graphs frozen before the top-k decode every anchor already
        anchors = int(_imported(graph_def, input_size, [NETWORK_OUTPUTS[1] + ':0'])[2][0].shape[1])
        input_map = {PRE_NMS_INDICES + ':0': lambda: tf.range(anchors)[None]}
    graph, images, (raw_boxes, raw_scores) = _imported(graph_def, input_size, nms_inputs, input_map)
    with graph.as_default():
        boxes = tf.reshape(raw_boxes, [1, -1, 4], name='boxes')
        scores = tf.reshape(raw_scores, [1, -1], name='scores')
    return graph, images, boxes, scores


def network_graph(graph_def, input_size):
    """A new graph: ``images`` [1, H, W, 3] float32 -> the network alone, the frozen detector's raw head outputs
    NETWORK_OUTPUTS (box offsets [1, A, 4], class logits [1, A, 2]) before softmax, decoding and NMS (a
    benchmark times the post-processing as the rest); returns (graph, images, [deltas, logits])."""
    missing = [name for name in NETWORK_OUTPUTS if not _has_node(graph_def, name)]
    if missing:
        raise UserError('the frozen graph lacks %s (frozen by an older version): re-freeze it with '
                        'tools/auto_freeze.py' % ', '.join(missing))
    network = tf.graph_util.extract_sub_graph(graph_def, list(NETWORK_OUTPUTS))  # nothing past them
    graph, images, tensors = _imported(network, input_size, [name + ':0' for name in NETWORK_OUTPUTS])
    with graph.as_default():
        outputs = [tf.identity(tensor, name=name) for tensor, name in zip(tensors, NETWORK_OUTPUTS)]
    return graph, images, outputs


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
