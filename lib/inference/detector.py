"""FaceDetector: run a frozen ``detector.pb`` on RGB images, boxes back in each image's own pixels.

Images are never stretched: each is padded (bottom and right) to the next multiple of 32, or, when an
input size is requested, letterboxed into it (lib.common.image, the same letterbox as training). The padding
is the graph's own pixel mean (``pixel_mean:0``), as in training, so it reads as "nothing" to the network.
"""
import os
import time

import numpy as np
import tensorflow.compat.v1 as tf

from lib.common.errors import UserError
from lib.common.image import batch_images, check_input_size
from lib.model.dsfd import INPUT_NAME, OUTPUT_NAMES


def load_graph_def(pb_path):
    """Read a frozen ``.pb``; a UserError when it is missing or not a GraphDef with the detector's nodes."""
    if not os.path.isfile(pb_path):
        raise UserError('model file not found: %s (write one with tools/auto_freeze.py)' % pb_path)
    graph_def = tf.GraphDef()
    try:
        with open(pb_path, 'rb') as f:
            graph_def.ParseFromString(f.read())
    except Exception as err:  # protobuf raises DecodeError and others for foreign files
        raise UserError('%s is not a frozen TensorFlow graph (%s)' % (pb_path, err))
    names = {node.name for node in graph_def.node}
    missing = [n for n in (INPUT_NAME,) + OUTPUT_NAMES if n not in names]
    if missing:
        raise UserError('%s lacks the nodes %s; expected a graph from tools/auto_freeze.py with input images:0 '
                        'and outputs boxes:0, scores:0, num_detections:0' % (pb_path, ', '.join(missing)))
    return graph_def


def check_image(image):
    """``image`` as an array; a UserError unless it is an RGB image [H, W, 3]."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise UserError('expected an RGB image array [H, W, 3], got shape %s' % (image.shape,))
    return image



def to_pixel_boxes(boxes, scores, count, batch_shape, letterbox, image_shape, score_threshold):
    """One image's graph outputs -> float32 [K, 5] (x1, y1, x2, y2, score) in its own pixels, best first."""
    boxes, scores = boxes[:count], scores[:count]
    keep = scores >= score_threshold
    boxes, scores = boxes[keep], scores[keep]
    batch_h, batch_w = batch_shape
    scale_x, scale_y, (height, width) = letterbox.scale_x, letterbox.scale_y, image_shape
    xs = np.clip(boxes[:, 1::2] * batch_w / scale_x, 0, width)   # NMS keeps corners as predicted: order them
    ys = np.clip(boxes[:, 0::2] * batch_h / scale_y, 0, height)
    detections = np.stack([xs.min(axis=1), ys.min(axis=1), xs.max(axis=1), ys.max(axis=1), scores], axis=1)
    detections = detections.astype(np.float32).reshape(-1, 5)
    has_area = (detections[:, 2] > detections[:, 0]) & (detections[:, 3] > detections[:, 1])
    detections = detections[has_area]  # boxes entirely outside the image (or in its padding) clip to nothing
    return detections[np.argsort(-detections[:, 4], kind='stable')]


def graph_pad_value(session):
    """The RGB mean the session's graph subtracts, rounded (graphs built without ``pixel_mean`` pad with 0)."""
    try:
        return np.round(session.run(session.graph.get_tensor_by_name('pixel_mean:0')))
    except KeyError:
        return np.zeros(3)


def run_detection(session, input_tensor, outputs, images, score_threshold=0.5, input_size=None, pad_value=0):
    """Letterbox RGB ``images`` into one batch, run ``outputs`` (boxes, scores, num_detections) of a DSFD
    inference graph and map back: a list of float32 [K, 5] (x1, y1, x2, y2, score) in each image's pixels.
    Shared by FaceDetector (frozen graph) and callers holding a live graph with variables."""
    if not len(images):
        return []
    images = [check_image(image) for image in images]
    if input_size is not None:
        input_size = check_input_size(input_size)
    batch, scales = batch_images(images, pad_value, input_size)
    boxes, scores, counts = session.run(outputs, {input_tensor: batch})
    return [to_pixel_boxes(boxes[i], scores[i], int(counts[i]), batch.shape[1:3], scales[i],
                           np.shape(image)[:2], score_threshold)
            for i, image in enumerate(images)]


class FaceDetector(object):
    """A frozen DSFD graph in its own session. ``threads`` bounds TF's intra/inter-op threads (None: TF's choice)."""

    def __init__(self, pb_path, threads=None):
        graph_def = load_graph_def(pb_path)
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.import_graph_def(graph_def, name='')
        session_config = tf.ConfigProto()
        if threads:
            session_config.intra_op_parallelism_threads = int(threads)
            session_config.inter_op_parallelism_threads = int(threads)
        self.session = tf.Session(graph=self.graph, config=session_config)
        self.input = self.graph.get_tensor_by_name(INPUT_NAME + ':0')
        self.outputs = [self.graph.get_tensor_by_name(name + ':0') for name in OUTPUT_NAMES]
        self.pad_value = graph_pad_value(self.session)

    def detect_batch(self, images, score_threshold=0.5, input_size=None):
        """Detections of several RGB images in one run: a list of float32 [K, 5] (x1, y1, x2, y2, score)."""
        return run_detection(self.session, self.input, self.outputs, images, score_threshold, input_size,
                             self.pad_value)

    def detect(self, image_rgb, score_threshold=0.5, input_size=None):
        """float32 [K, 5] (x1, y1, x2, y2, score) in ``image_rgb``'s pixels, sorted by score (best first)."""
        return self.detect_batch([image_rgb], score_threshold, input_size)[0]

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def latency_seconds(detector, images, runs, warmup=2, input_size=None):
    """Seconds of each of ``runs`` ``detector.detect_batch(images)`` calls (letterbox, graph, mapping back)
    after ``warmup`` untimed ones: the one latency measurement of the demo and the benchmarks."""
    times = []
    for run in range(warmup + runs):
        start = time.perf_counter()
        detector.detect_batch(images, 0., input_size)
        if run >= warmup:
            times.append(time.perf_counter() - start)
    return times
