"""DSFD (VGG16): the training graph's raw outputs of both shots, and the inference graph with NMS.

Data flow: images -> (x - mean) / std -> VGG16 + extras -> six source maps (conv3_3, conv4_3, conv5_3
L2-normalised) -> first-shot heads; FPN + FEM on the sources -> second-shot heads. Inference decodes the
last shot only.
"""
import collections

import numpy as np
import tensorflow.compat.v1 as tf

from lib.anchors import box_codec
from lib.anchors.generator import anchors_tf, shot_scale
from lib.model import fem as fem_lib
from lib.model import head, layers, vgg
from lib.model.arch import L2_NORM_LAYERS, SOURCE_LAYERS

# The inference graph's interface (a frozen graph keeps these names): images in, detections out.
INPUT_NAME = 'images'
OUTPUT_NAMES = ('boxes', 'scores', 'num_detections')

Endpoints = collections.namedtuple('Endpoints', 'features sources shots recorder')
Endpoints.__doc__ = """features: {prunable layer: ReLU output}; sources: the six source maps;
shots: OrderedDict {shot: (box offsets [N, A, 4], class logits [N, A, 2])}; recorder: the LayerRecorder."""


def preprocess(images, pixel_mean, pixel_std):
    """uint8 or float RGB [N, H, W, 3] -> (x - mean) / std, inside the graph so frozen models take raw pixels."""
    images = tf.cast(images, tf.float32)
    mean = tf.constant(np.array(pixel_mean, np.float32), name='pixel_mean')  # read back by FaceDetector to pad
    return (images - mean) / np.array(pixel_std, np.float32)


def build_dsfd(images, arch, pixel_mean, pixel_std):
    """The DSFD graph of ``arch`` on a batch of RGB images; returns Endpoints."""
    recorder = layers.LayerRecorder()
    x = preprocess(images, pixel_mean, pixel_std)
    features = vgg.vgg16(recorder, x, arch)
    features.update(vgg.extras(recorder, features['fc7'], arch))
    sources = [features[name] for name in SOURCE_LAYERS]
    for level, (name, scale) in enumerate(zip(L2_NORM_LAYERS, arch.l2_norm)):
        sources[level] = layers.l2_norm(recorder, sources[level], scale, 'L2Norm/level%d' % level, name)
    shots = collections.OrderedDict()
    for shot in arch.shots:
        if shot == 'first':
            shots[shot] = head.shot_head(recorder, sources, SOURCE_LAYERS, shot, arch.maxout)
        else:
            enhanced = fem_lib.fpn(recorder, sources, SOURCE_LAYERS, arch.fpn_dims)
            enhanced = [fem_lib.fem(recorder, feature, arch.fem_dims, 'fem/level%d' % level)
                        for level, feature in enumerate(enhanced)]
            shots[shot] = head.shot_head(recorder, enhanced, [None] * len(enhanced), shot, arch.maxout)
    return Endpoints(features, sources, shots, recorder)


def decode_last_shot(endpoints, arch, anchor_spec, encode_scale):
    """Boxes [N, A, 4] (x1, y1, x2, y2 input pixels) and face scores [N, A] of the inferred shot."""
    shot = arch.shots[-1]
    deltas, logits = endpoints.shots[shot]
    shapes = [(tf.shape(s)[1], tf.shape(s)[2]) for s in endpoints.sources]
    anchors = anchors_tf(shapes, anchor_spec, shot_scale(anchor_spec, shot, arch.shots))
    boxes = box_codec.decode_tf(deltas, anchors, encode_scale)
    scores = tf.nn.softmax(logits)[..., 1]
    return boxes, scores


def detect(images, endpoints, arch, anchor_spec, encode_scale, score_thres, iou_thres, max_detect):
    """Batched NMS on the last shot; returns the frozen-graph outputs as named tensors.

    boxes:0 [N, K, 4] normalised (ymin, xmin, ymax, xmax); scores:0 [N, K]; num_detections:0 [N] (int32),
    padded with zeros past num_detections.
    """
    boxes, scores = decode_last_shot(endpoints, arch, anchor_spec, encode_scale)
    size = tf.cast(tf.shape(images)[1:3], tf.float32)
    height, width = size[0], size[1]
    normalised = tf.stack([boxes[..., 1] / height, boxes[..., 0] / width,
                           boxes[..., 3] / height, boxes[..., 2] / width], axis=-1)
    nms_boxes, nms_scores, _, count = tf.image.combined_non_max_suppression(
        normalised[:, :, None, :], scores[:, :, None], max_output_size_per_class=max_detect,
        max_total_size=max_detect, iou_threshold=iou_thres, score_threshold=score_thres, clip_boxes=True)
    boxes_name, scores_name, count_name = OUTPUT_NAMES
    return {boxes_name: tf.identity(nms_boxes, name=boxes_name),
            scores_name: tf.identity(nms_scores, name=scores_name),
            count_name: tf.identity(tf.cast(count, tf.int32), name=count_name)}


def build_inference_graph(arch, anchor_spec, encode_scale, test_config, pixel_mean, pixel_std, input_shape=None):
    """Placeholder ``images`` ([N, H, W, 3] float32; uint8 arrays may be fed) -> detections; returns (images, outputs, endpoints)."""
    images = tf.placeholder(tf.float32, input_shape or [None, None, None, 3], name=INPUT_NAME)
    endpoints = build_dsfd(images, arch, pixel_mean, pixel_std)
    outputs = detect(images, endpoints, arch, anchor_spec, encode_scale, test_config.score_thres,
                     test_config.iou_thres, test_config.max_detect)
    return images, outputs, endpoints
