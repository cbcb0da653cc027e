"""Training augmentation for face detection: data-anchor-sampling or SSD crop, colour jitter, flip.

Images are RGB uint8 [H, W, 3]; boxes float32 [N, 4] x1, y1, x2, y2 in pixel-edge coordinates. Each crop is a
window rendered by the one letterbox of lib.common.image, so boxes and pixels move by exactly the same map.
"""
import math

import cv2
import numpy as np

from lib.common.image import fit_scale, render_window

SSD_MIN_IOUS = (None, 0.1, 0.3, 0.5, 0.7, 0.9)


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


def anchor_sampling_window(boxes, image_size, input_size, anchor_sizes, rng):
    """Data-anchor-sampling (PyramidBox): pick a face, pick an anchor size (of ``anchor_sizes``, the model's) at
    most one step above the one nearest its size, rescale so the face measures uniform(anchor / 2, anchor * 2),
    and return the source window (x0, y0, x1, y1) that fills the input at that scale while holding the face."""
    height, width = image_size
    face = boxes[rng.randint(len(boxes))]
    size = math.sqrt(max(face[2] - face[0], 1e-3) * max(face[3] - face[1], 1e-3))
    nearest = int(np.argmin(np.abs(np.array(anchor_sizes, np.float64) - size)))
    anchor = anchor_sizes[rng.randint(0, min(nearest + 1, len(anchor_sizes) - 1) + 1)]
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


def augment_train(image, boxes, input_size, rng, pixel_mean, anchor_sizes, anchor_sampling_prob=0.5,
                  flip_prob=0.5, colour=True):
    """One training sample: data-anchor-sampling (p=anchor_sampling_prob, when there are faces, with the model's
    ``anchor_sizes``) or SSD crop,
    letterbox into input_size (h, w), colour jitter of the image area, horizontal flip of the content.
    Returns (input image uint8 [h, w, 3], boxes float32 [K, 4] in input pixels)."""
    height, width = image.shape[:2]
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if len(boxes) and rng.rand() < anchor_sampling_prob:
        window = anchor_sampling_window(boxes, (height, width), input_size, anchor_sizes, rng)
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
