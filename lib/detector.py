"""FaceDetector: run a frozen ``detector.pb`` on RGB images, boxes back in each image's own pixels.

Images are never stretched: each is padded (bottom and right) to the next multiple of 32, or, when an
input size is requested, shrunk or enlarged with its aspect ratio kept and then padded to that size. The padding
is the graph's own pixel mean (``pixel_mean:0``), as in training, so it reads as "nothing" to the network.
"""
import cv2
import numpy as np
import tensorflow.compat.v1 as tf

from lib.freeze import INPUT_NAME, OUTPUT_NAMES, load_graph_def
from lib.helper.errors import UserError

STRIDE = 32


def round_up(value, multiple=STRIDE):
    return max(multiple, -(-int(value) // multiple) * multiple)


def resize_image(image, scale_y, scale_x=None):
    """``image`` resized by (scale_y, scale_x) (rounded, at least one pixel); returns (image, actual scales)."""
    scale_x = scale_y if scale_x is None else scale_x
    height, width = image.shape[:2]
    new_h, new_w = max(1, int(round(height * scale_y))), max(1, int(round(width * scale_x)))
    if (new_h, new_w) == (height, width):
        return image, (1., 1.)
    shrinking = new_h * new_w < height * width
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return resized, (new_h / float(height), new_w / float(width))


def check_image(image):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise UserError('expected an RGB image array [H, W, 3], got shape %s' % (image.shape,))
    return image


def check_input_size(input_size):
    if input_size is None:
        return None
    height, width = (int(v) for v in input_size)
    if height <= 0 or width <= 0 or height % STRIDE or width % STRIDE:
        raise UserError('input_size %s: expected (height, width), positive multiples of %d' % (input_size, STRIDE))
    return height, width


def letterbox(images, input_size=None, pad_value=0):
    """Pad with ``pad_value`` (and with ``input_size`` first fit) images into one batch.

    Returns (batch uint8/float [N, H, W, 3], scales [(scale_y, scale_x)] of each image inside the batch).
    Without ``input_size`` the batch is the largest image rounded up to multiples of 32.
    """
    input_size = check_input_size(input_size)
    fitted, scales = [], []
    for image in images:
        image = check_image(image)
        if input_size is not None:
            fit = min(input_size[0] / float(image.shape[0]), input_size[1] / float(image.shape[1]))
            image, scale = resize_image(image, fit)  # rounding never exceeds input_size
        else:
            scale = (1., 1.)
        fitted.append(image)
        scales.append(scale)
    if input_size is None:
        input_size = (round_up(max(im.shape[0] for im in fitted)), round_up(max(im.shape[1] for im in fitted)))
    dtype = np.result_type(*[im.dtype for im in fitted])
    batch = np.empty((len(fitted),) + tuple(input_size) + (3,), dtype)
    batch[...] = np.asarray(pad_value).astype(dtype)
    for i, image in enumerate(fitted):
        batch[i, :image.shape[0], :image.shape[1]] = image
    return batch, scales


def to_pixel_boxes(boxes, scores, count, batch_shape, scale, image_shape, score_threshold):
    """One image's graph outputs -> float32 [K, 5] (x1, y1, x2, y2, score) in its own pixels, best first."""
    boxes, scores = boxes[:count], scores[:count]
    keep = scores >= score_threshold
    boxes, scores = boxes[keep], scores[keep]
    batch_h, batch_w = batch_shape
    (scale_y, scale_x), (height, width) = scale, image_shape
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
        return 0


def run_detection(session, input_tensor, outputs, images, score_threshold=0.5, input_size=None, pad_value=0):
    """Letterbox RGB ``images`` into one batch, run ``outputs`` (boxes, scores, num_detections) of a DSFD
    inference graph and map back: a list of float32 [K, 5] (x1, y1, x2, y2, score) in each image's pixels.
    Shared by FaceDetector (frozen graph) and callers holding a live graph with variables."""
    if not len(images):
        return []
    batch, scales = letterbox(images, input_size, pad_value)
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
