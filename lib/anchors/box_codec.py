"""Box encoding: corner offsets divided by the anchor's width / height, times ``scale``; decode inverts it."""
import numpy as np
import tensorflow.compat.v1 as tf


def _anchor_sizes(anchors, lib):
    widths = anchors[..., 2] - anchors[..., 0]
    heights = anchors[..., 3] - anchors[..., 1]
    return lib.stack([widths, heights, widths, heights], axis=-1)


def encode_np(boxes, anchors, scale):
    """Targets [A, 4] for ground-truth ``boxes`` [A, 4] matched to ``anchors`` [A, 4] (x1, y1, x2, y2)."""
    return ((boxes - anchors) / _anchor_sizes(anchors, np) * scale).astype(np.float32)


def decode_np(deltas, anchors, scale):
    return (anchors + deltas / scale * _anchor_sizes(anchors, np)).astype(np.float32)


def decode_tf(deltas, anchors, scale):
    """Boxes [..., A, 4] (x1, y1, x2, y2 pixels) from predicted offsets [..., A, 4] and anchors [A, 4]."""
    return anchors + deltas / scale * _anchor_sizes(anchors, tf)
