"""Anchors in numpy (target assignment) and TF (decoding), same numbers; they equal the original's generator's.

Order: level by level (strides 4 .. 128), row-major within a level, then the anchors of one pixel, matching the
heads' flattening. Anchor of a level with stride s and size z at scale k: centre ((x + 0.5) s, (y + 0.5) s),
width z * k, height width * aspect_ratio. Boxes are (x1, y1, x2, y2) in input pixels.

Per pixel, DSFD has one anchor in each shot: full size in the second, half size in the first (PAL); a
single-shot model has both, full then half size, as the original's ANCHOR_RATIOS (1., 4.) make them (its ratio
4 is the half-size anchor, also what DSFD's first shot takes from it).
"""
import collections

import numpy as np
import tensorflow.compat.v1 as tf

AnchorSpec = collections.namedtuple('AnchorSpec', 'strides sizes aspect_ratio first_shot_scale')


def anchor_spec_from_config(anchor_config):
    return AnchorSpec(tuple(anchor_config.strides), tuple(anchor_config.sizes),
                      float(anchor_config.aspect_ratio), float(anchor_config.first_shot_scale))


def shot_scale(spec, shot, shots):
    """The anchor scales of one pixel in ``shot``: (first_shot_scale,) for DSFD's first shot (PAL), (1.,) for its
    second, (1., first_shot_scale) for the one shot of a single-shot model."""
    if len(shots) == 1:
        return (1., spec.first_shot_scale)
    return (spec.first_shot_scale,) if shot == 'first' else (1.,)


def _scales(scale):
    return tuple(scale) if isinstance(scale, (tuple, list)) else (scale,)


def feature_map_sizes(height, width, spec):
    """(h, w) of each source map for an input of height x width (multiples of 32).

    Pooling halves exactly up to stride 32; the stride-2 SAME convs of the extras round up.
    """
    sizes = []
    h, w = height // spec.strides[0], width // spec.strides[0]
    for _ in spec.strides:
        sizes.append((h, w))
        h, w = (h + 1) // 2, (w + 1) // 2
    return sizes


def _level_anchors_np(h, w, stride, size, aspect_ratio, scales):
    xs = (np.arange(w, dtype=np.float32) + 0.5) * stride
    ys = (np.arange(h, dtype=np.float32) + 0.5) * stride
    cx, cy = np.meshgrid(xs, ys)
    cx, cy = cx.reshape(-1, 1), cy.reshape(-1, 1)
    half_w = np.array([size * k / 2. for k in scales], np.float32)[None, :]
    half_h = np.array([size * k * aspect_ratio / 2. for k in scales], np.float32)[None, :]
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=2).reshape(-1, 4)


def anchors_np(height, width, spec, scale=1.):
    """All anchors [A, 4] float32 for an input of height x width; ``scale``: one scale or those of a pixel."""
    levels = [_level_anchors_np(h, w, stride, size, spec.aspect_ratio, _scales(scale))
              for (h, w), stride, size in zip(feature_map_sizes(height, width, spec), spec.strides, spec.sizes)]
    return np.concatenate(levels, axis=0).astype(np.float32)


def anchors_tf(feature_shapes, spec, scale=1.):
    """All anchors [A, 4] float32 from the dynamic (h, w) of each source map (any input size)."""
    scales = _scales(scale)
    levels = []
    for (h, w), stride, size in zip(feature_shapes, spec.strides, spec.sizes):
        xs = (tf.cast(tf.range(w), tf.float32) + 0.5) * stride
        ys = (tf.cast(tf.range(h), tf.float32) + 0.5) * stride
        cx, cy = tf.meshgrid(xs, ys)
        cx, cy = tf.reshape(cx, [-1, 1]), tf.reshape(cy, [-1, 1])
        half_w = np.array([size * k / 2. for k in scales], np.float32)[None, :]
        half_h = np.array([size * k * spec.aspect_ratio / 2. for k in scales], np.float32)[None, :]
        levels.append(tf.reshape(tf.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=2), [-1, 4]))
    return tf.concat(levels, axis=0)
