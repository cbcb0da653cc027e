"""Anchors: counts, numpy == TF, encode/decode round trip, every face gets a positive."""
import numpy as np
import pytest
from easydict import EasyDict as edict

from conftest import tf
from lib.anchors import box_codec
from lib.anchors.generator import AnchorSpec, anchors_np, anchors_tf, feature_map_sizes, shot_scale
from lib.anchors.matcher import AnchorTargetAssigner, iou_matrix, match
from lib.model.arch import Architecture
from lib.model.dsfd import build_dsfd

SPEC = AnchorSpec((4, 8, 16, 32, 64, 128), (16, 32, 64, 128, 256, 512), 1.5, 0.5)


def test_anchor_count_at_640():
    assert len(anchors_np(640, 640, SPEC)) == 34125
    assert feature_map_sizes(640, 640, SPEC) == [(160, 160), (80, 80), (40, 40), (20, 20), (10, 10), (5, 5)]


def test_anchor_geometry():
    anchors = anchors_np(640, 640, SPEC, scale=0.5)
    first = anchors[0]
    np.testing.assert_allclose(first, [2 - 4, 2 - 6, 2 + 4, 2 + 6])  # centre (2, 2), 8 wide, 12 high
    last = anchors[-1]
    np.testing.assert_allclose((last[0] + last[2]) / 2, 4.5 * 128)
    np.testing.assert_allclose(last[2] - last[0], 256)


def test_shot_scales_follow_the_originals_two_ratios():
    """DSFD: half-size anchors in the first shot, full-size in the second; one shot: both, full then half."""
    assert shot_scale(SPEC, 'first', ['first', 'second']) == (0.5,)
    assert shot_scale(SPEC, 'second', ['first', 'second']) == (1.,)
    assert shot_scale(SPEC, 'first', ['first']) == shot_scale(SPEC, 'second', ['second']) == (1., 0.5)


def test_two_anchors_per_pixel_interleave_the_two_shots_anchors():
    """The single-shot layout (the original's generator with ANCHOR_RATIOS (1., 4.)): per pixel the full-size
    anchor then the half-size one, so its even / odd anchors are DSFD's second / first shot anchors."""
    both = anchors_np(640, 640, SPEC, (1., 0.5))
    assert both.shape == (2 * 34125, 4)
    np.testing.assert_array_equal(both[0::2], anchors_np(640, 640, SPEC, 1.))
    np.testing.assert_array_equal(both[1::2], anchors_np(640, 640, SPEC, 0.5))
    np.testing.assert_allclose(both[:2], [[-6, -10, 10, 14], [-2, -4, 6, 8]])  # 16 x 24 and 8 x 12 around (2, 2)


@pytest.mark.parametrize('height, width, scales', [(640, 640, 0.5), (480, 800, (1., 0.5)), (96, 160, 1.)])
def test_numpy_and_tf_anchors_are_equal(graph, height, width, scales):
    """TF anchors come from the real network's source-map shapes, numpy ones from the input size alone."""
    arch = Architecture.from_model_config(edict(width_mult=1. / 32, fpn_dims=256, fem_dims=512, fpn=False,
                                                dual_mode=False, maxout=True, l2_norm=[10., 8., 5.]))
    images = tf.placeholder(tf.float32, [1, None, None, 3])
    endpoints = build_dsfd(images, arch, [0., 0., 0.], [1., 1., 1.])
    shapes = [(tf.shape(m)[1], tf.shape(m)[2]) for m in endpoints.sources]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(anchors_tf(shapes, SPEC, scales), {images: np.zeros([1, height, width, 3])})
    np.testing.assert_array_equal(got, anchors_np(height, width, SPEC, scales))


def test_encode_decode_round_trip(graph):
    rng = np.random.RandomState(0)
    anchors = anchors_np(128, 128, SPEC)
    xy = rng.uniform(0, 100, size=(len(anchors), 2))
    boxes = np.concatenate([xy, xy + rng.uniform(4, 60, size=(len(anchors), 2))], axis=1).astype(np.float32)
    deltas = box_codec.encode_np(boxes, anchors, 5.)
    np.testing.assert_allclose(box_codec.decode_np(deltas, anchors, 5.), boxes, atol=1e-4)
    with tf.Session() as sess:
        decoded = sess.run(box_codec.decode_tf(tf.constant(deltas), tf.constant(anchors), 5.))
    np.testing.assert_allclose(decoded, boxes, atol=1e-4)
    np.testing.assert_allclose(box_codec.encode_np(decoded, anchors, 5.), deltas, atol=1e-4)


def test_iou_matrix_known_values():
    boxes = np.array([[0, 0, 10, 10]], np.float32)
    anchors = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(iou_matrix(boxes, anchors)[0], [1., 1. / 3, 0.], atol=1e-6)


def test_dense_matcher_by_hand():
    """Threshold, best face per anchor, and the claims of faces in ascending order of their best IoU."""
    anchors = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [20, 0, 30, 10], [0, 20, 10, 30]], np.float64)
    # Face 0 = anchor 0 (IoU 1; anchor 1: 0.5, exactly the threshold); face 1 small (best IoU 0.16 with anchor 2).
    faces = np.array([[0, 0, 10, 10], [20, 0, 24, 4]], np.float64)
    np.testing.assert_array_equal(match(faces, anchors, 0.5), [0, 0, 1, -1])
    np.testing.assert_array_equal(match(faces, anchors, 0.6), [0, -1, 1, -1])
    # Face 2 (IoU 0.818 with anchor 0, 45 / 105 with anchor 1) goes before face 0 (IoU 1) and claims anchor 0;
    # face 0 then claims its next best, anchor 1.
    crowd = np.array([[0, 0, 10, 10], [20, 0, 24, 4], [1, 0, 11, 10]], np.float64)
    np.testing.assert_array_equal(match(crowd, anchors, 0.9), [2, 0, 1, -1])
    assert (match(np.zeros((0, 4)), anchors, 0.5) == -1).all()


def oracle_match(faces, anchors, positive_iou):
    """The matching rule in plain Python (the docstring of lib.anchors.matcher.match, read independently)."""
    def iou(f, a):
        inter = max(0., min(f[2], a[2]) - max(f[0], a[0])) * max(0., min(f[3], a[3]) - max(f[1], a[1]))
        return inter / max((f[2] - f[0]) * (f[3] - f[1]) + (a[2] - a[0]) * (a[3] - a[1]) - inter, 1e-12)
    table = [[iou(f, a) for a in anchors] for f in faces]
    assignment = []
    for j in range(len(anchors)):
        best = max(range(len(faces)), key=lambda i: (table[i][j], -i))
        assignment.append(best if table[best][j] >= positive_iou else -1)
    claimed = set()
    for i in sorted(range(len(faces)), key=lambda i: (max(table[i]), i)):
        free = [j for j in range(len(anchors)) if table[i][j] > 0 and j not in claimed]
        if free:
            j = min(free, key=lambda j: (-table[i][j], j))
            claimed.add(j)
            assignment[j] = i
    return assignment


def test_dense_matcher_equals_a_plain_python_oracle_with_ties():
    rng = np.random.RandomState(7)
    xs, ys = np.meshgrid(np.arange(0, 48, 4), np.arange(0, 32, 4))  # a 12 x 8 grid: many equal IoUs
    for side in (8, 12):
        anchors = np.stack([xs.ravel(), ys.ravel(), xs.ravel() + side, ys.ravel() + side * 1.5], 1).astype(float)
        for _ in range(30):
            count = rng.randint(1, 6)
            corner = rng.randint(0, 40, (count, 2))
            faces = np.hstack([corner, corner + rng.randint(1, 20, (count, 2))]).astype(float)
            expected = oracle_match(faces.tolist(), anchors.tolist(), 0.35)
            np.testing.assert_array_equal(match(faces, anchors, 0.35), expected)


def test_every_face_gets_a_positive_anchor_in_each_shot():
    rng = np.random.RandomState(3)
    assigner = AnchorTargetAssigner((640, 640), SPEC, ['first', 'second'], 0.35, 5.)
    anchors = assigner.anchors
    for _ in range(5):
        sides = rng.uniform(8, 300, size=40)
        x1 = rng.uniform(0, 640 - sides)
        y1 = rng.uniform(0, 640 - sides * 1.3)
        boxes = np.stack([x1, y1, x1 + sides, y1 + sides * 1.3], axis=1).astype(np.float32)
        targets = assigner(boxes)
        for shot in ('first', 'second'):
            labels = targets[shot + '_labels']
            positives = anchors[shot][labels == 1]
            decoded = box_codec.decode_np(targets[shot + '_boxes'][labels == 1], positives, 5.)
            for box in boxes:
                matched = np.abs(decoded - box).max(axis=1) < 1e-3
                assert matched.any(), 'face %s has no positive anchor in the %s shot' % (box, shot)


def test_no_faces_means_all_background():
    assigner = AnchorTargetAssigner((128, 128), SPEC, ['second'], 0.35, 5.)
    targets = assigner(np.zeros((0, 4), np.float32))
    assert targets['second_labels'].sum() == 0
    assert not targets['second_boxes'].any()
