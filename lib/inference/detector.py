"""FaceDetector: run an exported detector (``.pb``, ``.onnx``, OpenVINO ``.xml`` or ``.tflite``) on RGB images,
boxes back in each image's own pixels.

Images are never stretched: each is padded (bottom and right) to the next multiple of 32, or, when an
input size is requested (or the model has a fixed one, as a TFLite file does), letterboxed into it
(lib.common.image, the same letterbox as training). The padding is the model's own pixel mean, as in training,
so it reads as "nothing" to the network. Only ``detect_stretched`` (the original's own FaceDetector, for
tools/wider.py --protocol=original) stretches. The runtime is picked by the file's extension (lib.inference.runtimes).
"""
import logging
import time

import cv2
import numpy as np

from lib.common.errors import UserError
from lib.common.image import batch_images, check_input_size, resize_image
from lib.inference.runtimes import open_runtime

DEFAULT_MAX_SIDE = 4096
log = logging.getLogger(__name__)


def check_image(image):
    """``image`` as an array; a UserError unless it is an RGB image [H, W, 3] of uint8, or float with finite
    values in 0..255."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise UserError('expected an RGB image array [H, W, 3], got shape %s' % (image.shape,))
    if image.dtype == np.uint8:
        return image
    if not np.issubdtype(image.dtype, np.floating):
        raise UserError('expected an RGB image of dtype uint8 or float (values 0..255), got %s' % image.dtype)
    if not np.isfinite(image).all():
        raise UserError('the image has NaN or infinite values; expected RGB values 0..255')
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > 255:
        raise UserError('the float image has values %.4g..%.4g; expected RGB values 0..255' % (low, high))
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


def detect_images(run_batch, images, score_threshold=0.5, input_size=None, pad_value=0):
    """Letterbox RGB ``images`` into one batch, ``run_batch(batch)`` -> (boxes, scores, num_detections) as the
    frozen graph returns them, map back: a list of float32 [K, 5] (x1, y1, x2, y2, score) in each image's pixels."""
    if not len(images):
        return []
    images = [check_image(image) for image in images]
    if input_size is not None:
        input_size = check_input_size(input_size)
    batch, scales = batch_images(images, pad_value, input_size)
    boxes, scores, counts = run_batch(batch)
    return [to_pixel_boxes(boxes[i], scores[i], int(counts[i]), batch.shape[1:3], scales[i],
                           np.shape(image)[:2], score_threshold)
            for i, image in enumerate(images)]


def run_detection(session, input_tensor, outputs, images, score_threshold=0.5, input_size=None, pad_value=0):
    """detect_images on a live TF graph (callers holding variables, e.g. the sensitivity analysis)."""
    return detect_images(lambda batch: session.run(outputs, {input_tensor: batch}), images, score_threshold,
                         input_size, pad_value)


class FaceDetector(object):
    """An exported detector (.pb / .onnx / .xml / .tflite) on its runtime. ``threads`` bounds the runtime's threads
    (None: its choice); images whose longest side exceeds ``max_side`` are shrunk first. Suspect inputs (a float
    image in 0..1, an oversized image) are logged as warnings, once per detector."""

    def __init__(self, path, threads=None, max_side=DEFAULT_MAX_SIDE):
        if isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) or max_side < 32:
            raise UserError('max_side = %r: expected an int >= 32 (pixels)' % (max_side,))
        self.max_side = int(max_side)
        self.runtime = open_runtime(path, threads)
        self.pad_value = self.runtime.pad_value
        self.input_size = self.runtime.input_size
        self._warned = set()

    def _warn_once(self, kind, message):
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning(message)

    def _prepare(self, image):
        """(image to run, (scale_x, scale_y) applied): checked, shrunk to max_side when larger."""
        image = check_image(image)
        if image.dtype != np.uint8 and image.size and float(image.max()) <= 1.:
            self._warn_once('unit', 'FaceDetector: a float image with values all in 0..1 looks scaled to 0..1; '
                                    'the detector expects RGB values 0..255 (multiply by 255)')
        longest = max(image.shape[:2])
        if longest <= self.max_side:
            return image, (1., 1.)
        self._warn_once('large', 'FaceDetector: an image of %dx%d exceeds max_side=%d; shrinking it (and any later '
                                 'one) to fit' % (image.shape[1], image.shape[0], self.max_side))
        resized, (scale_y, scale_x) = resize_image(image, self.max_side / float(longest))
        return resized, (scale_x, scale_y)

    def detect_batch(self, images, score_threshold=0.5, input_size=None):
        """Detections of several RGB images in one run: a list of float32 [K, 5] (x1, y1, x2, y2, score)."""
        if self.input_size is not None:
            if input_size is not None and tuple(check_input_size(input_size)) != self.input_size:
                raise UserError('input_size %s: this model has a fixed input size %s (re-export it with '
                                '--input_size)' % (tuple(input_size), self.input_size))
            input_size = self.input_size
        prepared = [self._prepare(image) for image in images]
        results = detect_images(self.runtime.run, [image for image, _ in prepared], score_threshold, input_size,
                                self.pad_value)
        for detections, (_, (scale_x, scale_y)) in zip(results, prepared):
            detections[:, [0, 2]] /= scale_x
            detections[:, [1, 3]] /= scale_y
        return results

    def detect(self, image_rgb, score_threshold=0.5, input_size=None):
        """float32 [K, 5] (x1, y1, x2, y2, score) in ``image_rgb``'s pixels, sorted by score (best first)."""
        return self.detect_batch([image_rgb], score_threshold, input_size)[0]

    def detect_stretched(self, image_rgb, score_threshold=0.05):
        """The original's FaceDetector call: the image stretched to ((w // 32 + 1) * 32, (h // 32 + 1) * 32)
        (cv2's bilinear resize, never padded), the graph's normalised boxes times (w, h), scores strictly above
        ``score_threshold``, the graph's order kept, no clipping beyond the graph's own: float32 [K, 5]."""
        if self.input_size is not None:
            raise UserError('this model has a fixed input size %s; the original protocol stretches each image to '
                            'its own size: use the .pb, .onnx or .xml export' % (self.input_size,))
        image = check_image(image_rgb)
        height, width = image.shape[:2]
        stretched = cv2.resize(image, ((width // 32 + 1) * 32, (height // 32 + 1) * 32))
        boxes, scores, counts = self.runtime.run(stretched[None].astype(np.float32))
        count = int(counts[0])
        boxes, scores = boxes[0][:count], scores[0][:count]
        keep = scores > score_threshold
        corners = boxes[keep][:, [1, 0, 3, 2]] * np.array([width, height, width, height], np.float32)
        return np.concatenate([corners, scores[keep][:, None]], axis=1).astype(np.float32).reshape(-1, 5)

    def close(self):
        self.runtime.close()

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
