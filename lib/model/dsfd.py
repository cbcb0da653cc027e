"""DSFD (VGG16), the original's network exactly: the training graph's raw outputs of its shots, and the inference
graph with NMS.

Data flow: images -> (x - mean) / std -> VGG16 + extras -> six source maps of0..of5 (conv3_3, conv4_3, conv5_3
L2-normalised x 10, 8, 5) -> first-shot heads ``ssdout/``; cascaded FPN + FEM on the sources, maps 0..2
L2-normalised again -> second-shot heads ``dual/ssdout/``. Inference takes the last shot only (every anchor of a
pixel), keeps its TEST.pre_nms_top_k best-scoring anchors per image, decodes those and runs NMS on them.
"""
import collections

import numpy as np
import tensorflow.compat.v1 as tf

from lib.anchors import box_codec
from lib.anchors.generator import anchors_tf, shot_scale
from lib.model import fem as fem_lib
from lib.model import head, layers, vgg
from lib.model.arch import L2_NORM_LAYERS, SOURCE_LAYERS

# The inference graph's interface (a frozen graph keeps these names): images in, detections out; and the
# original's names for the same tensors, which its FaceDetector feeds and fetches.
INPUT_NAME = 'images'
OUTPUT_NAMES = ('boxes', 'scores', 'num_detections')
ORIGINAL_SCOPE = 'tower_0'
ORIGINAL_NAMES = ('tower_0/images', 'tower_0/boxes', 'tower_0/scores', 'tower_0/labels', 'tower_0/num_detections',
                  'training_flag')
# Inside it: the head's raw outputs of the inferred shot (before softmax and decoding: the network alone ends
# here), the pre-NMS count and the indices of the anchors it keeps (decode_last_shot).
NETWORK_OUTPUTS = ('network_deltas', 'network_logits')
PRE_NMS_TOP_K = 'pre_nms_top_k'
PRE_NMS_INDICES = 'pre_nms_indices'

Endpoints = collections.namedtuple('Endpoints', 'features sources shots recorder')
Endpoints.__doc__ = """features: {pruning group: feature} (a ReLU output, or an FPN level's product);
sources: the six source maps;
shots: OrderedDict {shot: (box offsets [N, A, 4], class logits [N, A, 2])}; recorder: the LayerRecorder."""


def preprocess(images, pixel_mean, pixel_std):
    """uint8 or float RGB [N, H, W, 3] -> (x - mean) / std, inside the graph so frozen models take raw pixels."""
    images = tf.cast(images, tf.float32)
    mean = tf.constant(np.array(pixel_mean, np.float32), name='pixel_mean')  # read back by FaceDetector to pad
    return (images - mean) / np.array(pixel_std, np.float32)


def _renormalise(maps, arch, prefix):
    """Maps 0, 1, 2 L2-normalised over channels and scaled by the constants ``arch.l2_norm``."""
    maps = list(maps)
    for level, scale in enumerate(arch.l2_norm[:len(L2_NORM_LAYERS)]):
        maps[level] = layers.l2_norm(maps[level], scale, '%s%d' % (prefix, level))
    return maps


def build_dsfd(images, arch, pixel_mean, pixel_std, native_dilation=False):
    """The DSFD graph of ``arch`` on a batch of RGB images; returns Endpoints.

    ``pixel_mean`` / ``pixel_std`` (the config's) apply unless ``arch`` carries its checkpoint's own;
    ``native_dilation``: see layers.LayerRecorder (inference graphs only).
    """
    recorder = layers.LayerRecorder(native_dilation)
    x = preprocess(images, *arch.normalisation(pixel_mean, pixel_std))
    features = vgg.vgg16(recorder, x, arch)
    features.update(vgg.extras(recorder, features['fc7'], arch))
    sources = _renormalise([features[name] for name in SOURCE_LAYERS], arch, 'of')
    shots = collections.OrderedDict()
    if 'first' in arch.shots:
        shots['first'] = head.shot_head(recorder, sources, SOURCE_LAYERS, 'ssdout', arch.maxout,
                                        arch.anchors_per_pixel)
    if 'second' in arch.shots:
        pyramid, carried = fem_lib.fpn(recorder, sources, SOURCE_LAYERS, arch.channels)
        enhanced = [fem_lib.fem(recorder, feature, arch.channels, 'fems%d' % level, input_source=source)
                    for level, (feature, source) in enumerate(zip(pyramid, carried))]
        shots['second'] = head.shot_head(recorder, _renormalise([e for e, _ in enhanced], arch, 'ef'),
                                         [groups for _, groups in enhanced], 'dual/ssdout', arch.maxout,
                                         arch.anchors_per_pixel)
    return Endpoints(recorder.features, sources, shots, recorder)


def network_outputs(endpoints, arch):
    """The inferred shot's raw head outputs, named NETWORK_OUTPUTS: box offsets [N, A, 4], class logits [N, A, 2]."""
    deltas, logits = endpoints.shots[arch.shots[-1]]
    return [tf.identity(value, name=name) for value, name in zip((deltas, logits), NETWORK_OUTPUTS)]


def gather_per_image(values, indices):
    """``values[n, indices[n, j]]`` for each image n: [N, A, ...] -> [N, k, ...] (a flat gather, which every
    converter takes; GatherV2's batch_dims is newer than TF 1.15's graphs)."""
    shape = tf.shape(values)
    flat = tf.reshape(values, [-1] + values.get_shape().as_list()[2:])
    return tf.gather(flat, indices + tf.range(shape[0])[:, None] * shape[1])


def decode_last_shot(endpoints, arch, anchor_spec, encode_scale, pre_nms_top_k):
    """Boxes [N, k, 4] (x1, y1, x2, y2 input pixels) and face scores [N, k] of the inferred shot's k best-scoring
    anchors per image, best first (equal scores: lower anchor index first), k = min(pre_nms_top_k, A).

    Only those k are decoded, so decoding and NMS cost does not grow with the input size. The graph names the
    count ``PRE_NMS_TOP_K`` and the kept anchors' indices ``PRE_NMS_INDICES`` [N, k]: mapping the indices to
    every anchor (deploy_graph.raw_detection_graph) gives the boxes and scores of all of them (so the scores are
    gathered by the indices too, not taken from top_k's values)."""
    deltas, logits = network_outputs(endpoints, arch)
    shapes = [(tf.shape(s)[1], tf.shape(s)[2]) for s in endpoints.sources]
    anchors = anchors_tf(shapes, anchor_spec, shot_scale(anchor_spec, arch.shots[-1], arch.shots))
    scores = tf.nn.softmax(logits)[..., 1]
    count = tf.minimum(tf.constant(pre_nms_top_k, tf.int32, name=PRE_NMS_TOP_K), tf.shape(scores)[1])
    indices = tf.identity(tf.math.top_k(scores, count).indices, name=PRE_NMS_INDICES)
    boxes = box_codec.decode_tf(gather_per_image(deltas, indices), tf.gather(anchors, indices), encode_scale)
    return boxes, gather_per_image(scores, indices)


def detect(images, endpoints, arch, anchor_spec, encode_scale, test_config):
    """Batched NMS on the last shot's ``test_config.pre_nms_top_k`` best anchors per image (score_thres,
    iou_thres, max_detect); returns the frozen-graph outputs as named tensors.

    boxes:0 [N, K, 4] normalised (ymin, xmin, ymax, xmax); scores:0 [N, K]; num_detections:0 [N] (int32),
    padded with zeros past num_detections.
    """
    boxes, scores = decode_last_shot(endpoints, arch, anchor_spec, encode_scale, test_config.pre_nms_top_k)
    size = tf.cast(tf.shape(images)[1:3], tf.float32)
    height, width = size[0], size[1]
    normalised = tf.stack([boxes[..., 1] / height, boxes[..., 0] / width,
                           boxes[..., 3] / height, boxes[..., 2] / width], axis=-1)
    normalised = tf.clip_by_value(normalised, 0., 1.)  # before NMS, as the original: IoUs of clipped boxes
    nms_boxes, nms_scores, _, count = tf.image.combined_non_max_suppression(
        normalised[:, :, None, :], scores[:, :, None], max_output_size_per_class=test_config.max_detect,
        max_total_size=test_config.max_detect, iou_threshold=test_config.iou_thres,
        score_threshold=test_config.score_thres, clip_boxes=True)
    boxes_name, scores_name, count_name = OUTPUT_NAMES
    return {boxes_name: tf.identity(nms_boxes, name=boxes_name),
            scores_name: tf.identity(nms_scores, name=scores_name),
            count_name: tf.identity(tf.cast(count, tf.int32), name=count_name)}


def original_aliases(outputs):
    """The original's output names beside ours: ``tower_0/boxes|scores|labels|num_detections`` (labels all 0,
    int64: the face class) and the ``training_flag`` bool placeholder (default False) its FaceDetector feeds."""
    with tf.name_scope(ORIGINAL_SCOPE + '/'):
        aliases = {name: tf.identity(outputs[name], name=name) for name in OUTPUT_NAMES}
        aliases['labels'] = tf.zeros_like(outputs['scores'], dtype=tf.int64, name='labels')
    training_flag = tf.placeholder_with_default(False, [], name='training_flag')
    return aliases, training_flag


def build_inference_graph(arch, anchor_spec, encode_scale, test_config, pixel_mean, pixel_std, input_shape=None):
    """Placeholder ``images`` ([N, H, W, 3] float32; uint8 arrays may be fed) -> detections; returns (images,
    outputs, endpoints).

    The network reads ``tower_0/images`` (an identity of ``images``), so feeding either name works, and the
    original's output names are there too (``original_aliases``). Dilated convs are native Conv2Ds (no gradient
    on TF 1.15's CPU; a frozen or exported graph needs none).
    """
    images = tf.placeholder(tf.float32, input_shape or [None, None, None, 3], name=INPUT_NAME)
    with tf.name_scope(ORIGINAL_SCOPE + '/'):
        network_input = tf.identity(images, name='images')
    endpoints = build_dsfd(network_input, arch, pixel_mean, pixel_std, native_dilation=True)
    outputs = detect(network_input, endpoints, arch, anchor_spec, encode_scale, test_config)
    original_aliases(outputs)
    return images, outputs, endpoints
