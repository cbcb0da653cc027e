"""Image + box augmentation for face detection. Images are RGB uint8 [H, W, 3]; boxes float32 [N, 4]
x1, y1, x2, y2 in pixel-edge coordinates (a box covering pixel columns 0..9 is x1=0, x2=10).

Every geometric step is a window of the source image mapped to the top-left of the network input:
``input = (source - window origin) * scale`` per axis. The window may leave the image (filled with
pixel_mean) and is resampled by one warpAffine (after an INTER_AREA pre-shrink when shrinking by more than
2x), so boxes and pixels move by exactly the same map. Letterbox keeps the aspect ratio and pads right and
bottom with pixel_mean; ``Letterbox.to_original`` inverts it exactly.
"""
import collections
import math

import cv2
import numpy as np

PIXEL_MEAN = (123.675, 116.28, 103.53)
ANCHOR_SCALES = (16, 32, 64, 128, 256, 512)
SSD_MIN_IOUS = (None, 0.1, 0.3, 0.5, 0.7, 0.9)


class Letterbox(collections.namedtuple('Letterbox', 'scale_x scale_y')):
    """Input pixels = original pixels * (scale_x, scale_y); the content sits at the top-left."""

    def _scale(self):
        return np.array([self.scale_x, self.scale_y, self.scale_x, self.scale_y], np.float32)

    def to_input(self, boxes):
        return np.asarray(boxes, np.float32).reshape(-1, 4) * self._scale()

    def to_original(self, boxes):
        return np.asarray(boxes, np.float32).reshape(-1, 4) / self._scale()


def fit_scale(width, height, input_size):
    """The Letterbox that fits a width x height window into input_size (h, w) with whole-pixel content size."""
    s = min(input_size[0] / float(height), input_size[1] / float(width))
    new_w = min(input_size[1], max(1, int(round(width * s))))
    new_h = min(input_size[0], max(1, int(round(height * s))))
    return Letterbox(new_w / float(width), new_h / float(height))


def _fill(pixel_mean):
    return tuple(int(round(v)) for v in pixel_mean)


def render_window(image, window, scale, input_size, pixel_mean=PIXEL_MEAN):
    """Resample ``window`` (x0, y0, x1, y1, source pixels, may leave the image) at ``scale`` into the top-left of
    an input_size (h, w) canvas; everything else, and window parts outside the image, is pixel_mean."""
    x0, y0, x1, y1 = window
    sx, sy = scale
    in_h, in_w = input_size
    fill = _fill(pixel_mean)
    row = np.tile(np.array(fill, np.uint8), (in_w, 1))  # filling row-wise is ~100x faster than a tuple
    out = np.empty((in_h, in_w, 3), np.uint8)
    valid_w = min(in_w, int(round((x1 - x0) * sx)))
    valid_h = min(in_h, int(round((y1 - y0) * sy)))
    height, width = image.shape[:2]
    ix0, iy0 = max(0, int(math.floor(x0)) - 1), max(0, int(math.floor(y0)) - 1)  # 1 px margin for interpolation
    ix1, iy1 = min(width, int(math.ceil(x1)) + 1), min(height, int(math.ceil(y1)) + 1)
    if ix1 <= ix0 or iy1 <= iy0 or valid_w <= 0 or valid_h <= 0:
        out[:] = row
        return out
    sub = image[iy0:iy1, ix0:ix1]
    ax, ay = sx, sy
    if min(sx, sy) < 0.5:  # warpAffine aliases when shrinking a lot: pre-shrink with area averaging
        new_w = max(1, int(round(sub.shape[1] * sx)))
        new_h = max(1, int(round(sub.shape[0] * sy)))
        ax, ay = sx * sub.shape[1] / new_w, sy * sub.shape[0] / new_h
        sub = cv2.resize(sub, (new_w, new_h), interpolation=cv2.INTER_AREA)
    bx, by = (ix0 - x0) * sx, (iy0 - y0) * sy
    # edge mapping u = a * x + b becomes u = a * x + b + (a - 1) / 2 between pixel centres
    matrix = np.array([[ax, 0, bx + 0.5 * ax - 0.5], [0, ay, by + 0.5 * ay - 0.5]], np.float64)
    out[:valid_h, :valid_w] = cv2.warpAffine(sub, matrix, (valid_w, valid_h), flags=cv2.INTER_LINEAR,
                                             borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    out[valid_h:] = row
    out[:valid_h, valid_w:] = row[valid_w:]
    return out


def window_boxes(boxes, window, scale, valid_size, min_size=1.0):
    """Map boxes into the input; drop those whose centre leaves the window's valid (w, h) area or whose clipped
    side falls under min_size pixels; clip the rest."""
    sx, sy = scale
    b = (np.asarray(boxes, np.float32).reshape(-1, 4) - np.array([window[0], window[1]] * 2, np.float32)) * \
        np.array([sx, sy, sx, sy], np.float32)
    valid_w, valid_h = valid_size
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    b = b[(cx >= 0) & (cx < valid_w) & (cy >= 0) & (cy < valid_h)]
    b = np.clip(b, 0, np.array([valid_w, valid_h, valid_w, valid_h], np.float32))
    return b[(b[:, 2] - b[:, 0] >= min_size) & (b[:, 3] - b[:, 1] >= min_size)]


def letterbox(image, input_size, pixel_mean=PIXEL_MEAN, boxes=None):
    """Fit the whole image into input_size (h, w), aspect kept, padded right/bottom with pixel_mean.
    Returns (input image, boxes in input pixels or None, Letterbox). Boxes are mapped, never dropped."""
    height, width = image.shape[:2]
    lb = fit_scale(width, height, input_size)
    out = render_window(image, (0, 0, width, height), lb, input_size, pixel_mean)
    return out, (None if boxes is None else lb.to_input(boxes)), lb


def hflip(image, boxes):
    """Mirror an image and its boxes left-right (exact: x -> W - x)."""
    width = image.shape[1]
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    return cv2.flip(image, 1), np.stack([width - b[:, 2], b[:, 1], width - b[:, 0], b[:, 3]], 1)


def distort_colour(image, rng):
    """Photometric jitter of an RGB uint8 image (returns a new one): brightness +-32 and contrast x[0.5, 1.5]
    on RGB, saturation x[0.5, 1.5] and hue +-18 degrees in HSV (OpenCV hue 0..179 wraps); each with p=0.5."""
    alpha = rng.uniform(0.5, 1.5) if rng.rand() < 0.5 else 1.0
    beta = rng.uniform(-32, 32) if rng.rand() < 0.5 else 0.0
    saturation = rng.uniform(0.5, 1.5) if rng.rand() < 0.5 else 1.0
    hue = int(round(rng.uniform(-9, 9))) if rng.rand() < 0.5 else 0  # OpenCV hue unit = 2 degrees
    levels = np.arange(256, dtype=np.float32)
    if alpha != 1.0 or beta != 0.0:
        image = cv2.LUT(image, np.clip(levels * alpha + beta + 0.5, 0, 255).astype(np.uint8))
    if saturation != 1.0 or hue != 0:
        lut = np.stack([(np.arange(256) + hue) % 180, np.clip(levels * saturation + 0.5, 0, 255), levels], 1)
        hsv = cv2.LUT(cv2.cvtColor(image, cv2.COLOR_RGB2HSV), lut.astype(np.uint8).reshape(256, 1, 3))
        image = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return image


def _span(lo, hi, length, limit, rng):
    """Start of a window of ``length`` that holds [lo, hi] (centred on it when shorter), staying inside
    [0, limit] where it can."""
    a, b = hi - length, lo
    if a > b:
        a = b = (lo + hi - length) / 2.0
    c, d = min(0.0, limit - length), max(0.0, limit - length)
    if max(a, c) <= min(b, d):
        a, b = max(a, c), min(b, d)
    return rng.uniform(a, b)


def anchor_sampling_window(boxes, image_size, input_size, rng):
    """Data-anchor-sampling (PyramidBox): pick a face, pick an anchor scale at most one step above the one nearest
    its size, rescale so the face measures uniform(anchor / 2, anchor * 2), and return the source window
    (x0, y0, x1, y1) that fills the input at that scale while holding the face."""
    height, width = image_size
    face = boxes[rng.randint(len(boxes))]
    size = math.sqrt(max(face[2] - face[0], 1e-3) * max(face[3] - face[1], 1e-3))
    nearest = int(np.argmin(np.abs(np.array(ANCHOR_SCALES) - size)))
    anchor = ANCHOR_SCALES[rng.randint(0, min(nearest + 1, len(ANCHOR_SCALES) - 1) + 1)]
    scale = rng.uniform(anchor / 2.0, anchor * 2.0) / size
    win_w, win_h = input_size[1] / scale, input_size[0] / scale
    x0 = _span(face[0], face[2], win_w, width, rng)
    y0 = _span(face[1], face[3], win_h, height, rng)
    return x0, y0, x0 + win_w, y0 + win_h


def _iou(window, boxes):
    iw = np.maximum(np.minimum(window[2], boxes[:, 2]) - np.maximum(window[0], boxes[:, 0]), 0)
    ih = np.maximum(np.minimum(window[3], boxes[:, 3]) - np.maximum(window[1], boxes[:, 1]), 0)
    inter = iw * ih
    area_w = (window[2] - window[0]) * (window[3] - window[1])
    return inter / (area_w + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter)


def ssd_crop_window(boxes, image_size, rng, trials=50):
    """SSD random crop: draw a minimum IoU from SSD_MIN_IOUS (None = whole image), then up to ``trials`` crops of
    30-100% of each side with aspect 0.5-2 that hold at least one face centre and whose IoU with some face
    centred in them reaches that minimum. Small faces rarely satisfy high minima: the whole image is the
    fallback, as in SSD."""
    height, width = image_size
    min_iou = SSD_MIN_IOUS[rng.randint(len(SSD_MIN_IOUS))]
    whole = (0.0, 0.0, float(width), float(height))
    if min_iou is None or len(boxes) == 0:
        return whole
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    for _ in range(trials):
        w, h = rng.uniform(0.3, 1.0) * width, rng.uniform(0.3, 1.0) * height
        if not 0.5 <= h / w <= 2.0:
            continue
        x0, y0 = rng.uniform(0, width - w), rng.uniform(0, height - h)
        window = (x0, y0, x0 + w, y0 + h)
        inside = (centres[:, 0] > x0) & (centres[:, 0] < x0 + w) & (centres[:, 1] > y0) & (centres[:, 1] < y0 + h)
        if inside.any() and _iou(window, boxes[inside]).max() >= min_iou:
            return window
    return whole


def augment_train(image, boxes, input_size, rng, pixel_mean=PIXEL_MEAN, anchor_sampling_prob=0.5,
                  flip_prob=0.5, colour=True):
    """One training sample: data-anchor-sampling (p=anchor_sampling_prob, when there are faces) or SSD crop,
    letterbox into input_size (h, w), colour jitter of the image area, horizontal flip of the content.
    Returns (input image uint8 [h, w, 3], boxes float32 [K, 4] in input pixels)."""
    height, width = image.shape[:2]
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if len(boxes) and rng.rand() < anchor_sampling_prob:
        window = anchor_sampling_window(boxes, (height, width), input_size, rng)
    else:
        window = ssd_crop_window(boxes, (height, width), rng)
    lb = fit_scale(window[2] - window[0], window[3] - window[1], input_size)
    out = render_window(image, window, lb, input_size, pixel_mean)
    valid_w = min(input_size[1], int(round((window[2] - window[0]) * lb.scale_x)))
    valid_h = min(input_size[0], int(round((window[3] - window[1]) * lb.scale_y)))
    out_boxes = window_boxes(boxes, window, lb, (valid_w, valid_h))
    if colour:  # only where the image is, so the padding stays pixel_mean
        fx0 = int(np.clip(round(-window[0] * lb.scale_x), 0, valid_w))
        fy0 = int(np.clip(round(-window[1] * lb.scale_y), 0, valid_h))
        fx1 = int(np.clip(round((width - window[0]) * lb.scale_x), 0, valid_w))
        fy1 = int(np.clip(round((height - window[1]) * lb.scale_y), 0, valid_h))
        if fx1 > fx0 and fy1 > fy0:
            out[fy0:fy1, fx0:fx1] = distort_colour(out[fy0:fy1, fx0:fx1], rng)
    if rng.rand() < flip_prob:
        out[:valid_h, :valid_w], out_boxes = hflip(out[:valid_h, :valid_w], out_boxes)
    return out, out_boxes
