"""Anchors: one per pixel of each source map, in numpy (target assignment) and TF (decoding), same numbers.

Order: level by level (strides 4 .. 128), row-major within a level, matching the heads' flattening.
Anchor of a level with stride s and size z: centre ((x + 0.5) s, (y + 0.5) s), width z * shot_scale,
height width * aspect_ratio. Boxes are (x1, y1, x2, y2) in input pixels.
"""
import collections

import numpy as np
import tensorflow.compat.v1 as tf

AnchorSpec = collections.namedtuple('AnchorSpec', 'strides sizes aspect_ratio first_shot_scale')


def anchor_spec_from_config(anchor_config):
    return AnchorSpec(tuple(anchor_config.strides), tuple(anchor_config.sizes),
                      float(anchor_config.aspect_ratio), float(anchor_config.first_shot_scale))


def shot_scale(spec, shot, shots):
    """PAL: the first shot's anchors are smaller, but only when a second shot exists."""
    return spec.first_shot_scale if (shot == 'first' and len(shots) > 1) else 1.


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


def _level_anchors_np(h, w, stride, size, aspect_ratio):
    xs = (np.arange(w, dtype=np.float32) + 0.5) * stride
    ys = (np.arange(h, dtype=np.float32) + 0.5) * stride
    cx, cy = np.meshgrid(xs, ys)
    half_w = np.float32(size / 2.)
    half_h = np.float32(size * aspect_ratio / 2.)
    cx, cy = cx.reshape(-1), cy.reshape(-1)
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)


def anchors_np(height, width, spec, scale=1.):
    """All anchors [A, 4] float32 for an input of height x width."""
    levels = [_level_anchors_np(h, w, stride, size * scale, spec.aspect_ratio)
              for (h, w), stride, size in zip(feature_map_sizes(height, width, spec), spec.strides, spec.sizes)]
    return np.concatenate(levels, axis=0).astype(np.float32)


def anchors_tf(feature_shapes, spec, scale=1.):
    """All anchors [A, 4] float32 from the dynamic (h, w) of each source map (any input size)."""
    levels = []
    for (h, w), stride, size in zip(feature_shapes, spec.strides, spec.sizes):
        xs = (tf.cast(tf.range(w), tf.float32) + 0.5) * stride
        ys = (tf.cast(tf.range(h), tf.float32) + 0.5) * stride
        cx, cy = tf.meshgrid(xs, ys)
        cx, cy = tf.reshape(cx, [-1]), tf.reshape(cy, [-1])
        half_w = np.float32(size * scale / 2.)
        half_h = np.float32(size * scale * spec.aspect_ratio / 2.)
        levels.append(tf.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1))
    return tf.concat(levels, axis=0)
