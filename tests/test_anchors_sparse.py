"""Sparse anchor matching (grid rectangles per face, the Cython kernel) gives exactly the dense assignment,
ties included."""
import logging

import numpy as np
import pytest

from lib.anchors import box_codec
from lib.anchors.generator import AnchorSpec, anchors_np, feature_map_sizes, shot_scale
from lib.anchors import matcher
from lib.anchors.grid import SLACK, AnchorGrid
from lib.anchors.matcher import AnchorTargetAssigner, iou_matrix, match, match_sparse

SPEC = AnchorSpec((4, 8, 16, 32, 64, 128), (16, 32, 64, 128, 256, 512), 1.5, 0.5)
SHOTS = ('first', 'second')


def grid_anchors(size, shot, per_pixel=1, pixel_major=True):
    """Anchors of a size x size input and their levels; with per_pixel 2, a second shape 4x taller on every
    pixel (the SSD variant's ratios (1, 4)), stored pixel by pixel or shape by shape."""
    scale = shot_scale(SPEC, shot, SHOTS)
    levels = feature_map_sizes(size, size, SPEC)
    if per_pixel == 1:
        return anchors_np(size, size, SPEC, scale), levels
    shapes = [anchors_np(size, size, SPEC._replace(aspect_ratio=r), scale) for r in (1., 4.)]
    out, offset = [], 0
    for h, w in levels:
        parts = [a[offset:offset + h * w] for a in shapes]
        out.append(np.stack(parts, 1).reshape(-1, 4) if pixel_major else np.concatenate(parts))
        offset += h * w
    return np.concatenate(out), levels


def random_faces(rng, size, count, kind):
    """Face boxes float32 [count, 4] of one adversarial kind."""
    if kind == 'aligned':  # exactly some anchors: IoU 1 and many exact ties
        anchors = anchors_np(size, size, SPEC, 1.)
        return anchors[rng.randint(len(anchors), size=count)]
    low, high = {'tiny': (0.2, 6), 'mixed': (1, 1.6 * size), 'huge': (size, 6 * size), 'small': (4, 40)}.get(
        kind, (1, size / 2.))
    sides = np.exp(rng.uniform(np.log(low), np.log(high), size=(count, 2)))
    corner = rng.uniform(-0.3 * size, 1.1 * size, size=(count, 2))
    boxes = np.concatenate([corner, corner + sides], 1)
    if kind == 'integer':  # integer pixels: equal IoUs everywhere
        boxes = np.round(boxes)
    if kind == 'duplicates':
        boxes = boxes[rng.randint(max(1, count // 4), size=count)]
    if kind == 'degenerate':  # empty, inverted, far away
        boxes[::3, 2] = boxes[::3, 0]
        boxes[1::3, 1], boxes[1::3, 3] = boxes[1::3, 3].copy(), boxes[1::3, 1].copy()
        boxes[2::6] += 10 * size
    return boxes.astype(np.float32)


KINDS = ('mixed', 'integer', 'tiny', 'huge', 'duplicates', 'aligned', 'degenerate', 'small')


def check_equal(boxes, anchors, levels, positive_iou=0.35):
    """Asserts sparse == dense; returns how many anchors were assigned a face."""
    grid = AnchorGrid.from_anchors(anchors, levels)
    assert grid is not None
    dense = match(boxes, anchors, positive_iou)
    np.testing.assert_array_equal(match_sparse(boxes, anchors, grid, positive_iou), dense)
    return np.count_nonzero(dense >= 0)


@pytest.mark.parametrize('shot', SHOTS)
def test_sparse_equals_dense_on_random_and_adversarial_faces(shot):
    rng = np.random.RandomState(0)
    assigned = 0
    for size in (64, 96, 128, 192, 256):
        anchors, levels = grid_anchors(size, shot)
        for kind in KINDS:
            for count in (0, 1, 3, 17, 60):
                boxes = random_faces(rng, size, count, kind)
                assigned += check_equal(boxes, anchors, levels, rng.choice([0.35, 0.5, 0.2]))
    assert assigned > 5000


@pytest.mark.parametrize('shot', SHOTS)
def test_sparse_equals_dense_in_crowds(shot):
    """Hundreds of overlapping faces: best anchors are claimed over and over."""
    rng = np.random.RandomState(1)
    for size, count, kind in ((128, 400, 'small'), (128, 300, 'integer'), (192, 300, 'mixed'),
                              (96, 200, 'duplicates'), (128, 250, 'tiny')):
        anchors, levels = grid_anchors(size, shot)
        check_equal(random_faces(rng, size, count, kind), anchors, levels)


@pytest.mark.parametrize('pixel_major', [True, False])
def test_two_anchors_a_pixel_are_a_grid_too(pixel_major):
    rng = np.random.RandomState(2)
    for size in (64, 128):
        anchors, levels = grid_anchors(size, 'second', 2, pixel_major)
        assert len(AnchorGrid.from_anchors(anchors, levels).blocks) == 2 * len(levels)
        for kind in KINDS:
            check_equal(random_faces(rng, size, 40, kind), anchors, levels)
        check_equal(random_faces(rng, size, 300, 'small'), anchors, levels)


def test_visited_rectangles_hold_exactly_the_overlapping_anchors():
    """At cut 0 a face visits the anchors with IoU > 0, edges one float apart included, each once; at a cut it
    still visits every anchor whose IoU reaches it."""
    rng = np.random.RandomState(6)
    anchors, levels = grid_anchors(128, 'first')
    grid = AnchorGrid.from_anchors(anchors, levels)
    kernel = matcher._kernel()
    edges = anchors[rng.randint(len(anchors), size=60)]
    nudged = np.nextafter(edges, edges + np.float32(rng.choice([-1, 1], size=edges.shape)))
    cases = [random_faces(rng, 128, 60, 'mixed'), random_faces(rng, 128, 60, 'integer'), edges,
             np.concatenate([nudged[:, :2], edges[:, 2:] + 20], 1),
             np.concatenate([edges[:, :2] - 20, nudged[:, 2:]], 1)]
    for boxes in cases:
        iou = iou_matrix(boxes, anchors)
        for cut in (0., 0.1, 0.35, 0.6):
            counts = kernel.visited(grid.arrays, SLACK, boxes, grid.bounds(boxes), np.full(len(boxes), cut),
                                    len(anchors))
            assert counts.max() == 1  # blocks do not overlap
            visited = counts == 1
            if cut == 0:
                np.testing.assert_array_equal(visited, iou > 0)
            else:
                assert visited[iou >= cut].all() and np.count_nonzero(visited) < np.count_nonzero(iou > 0)


def test_not_a_grid_falls_back_to_dense():
    rng = np.random.RandomState(3)
    anchors, levels = grid_anchors(64, 'second')
    shuffled = anchors[rng.permutation(len(anchors))]
    moved = anchors.copy()
    moved[100, 0] += 0.5
    assert AnchorGrid.from_anchors(shuffled, levels) is None
    assert AnchorGrid.from_anchors(moved, levels) is None
    assert AnchorGrid.from_anchors(anchors, levels[:-1]) is None  # the sizes do not add up
    assert AnchorGrid.from_anchors(anchors.astype(np.float64), levels) is None
    boxes = random_faces(rng, 64, 20, 'mixed')
    np.testing.assert_array_equal(match_sparse(boxes, shuffled, None, 0.35), match(boxes, shuffled, 0.35))
    grid = AnchorGrid.from_anchors(anchors, levels)
    for positive_iou in (0., -1., 1e-50):  # every anchor positive (1e-50 is 0 in float32): the dense rule
        np.testing.assert_array_equal(match_sparse(boxes, anchors, grid, positive_iou),
                                      match(boxes, anchors, positive_iou))
    with_nan = boxes.copy()
    with_nan[0, 0] = np.nan
    np.testing.assert_array_equal(match_sparse(with_nan, anchors, grid, 0.35), match(with_nan, anchors, 0.35))


def test_equal_ious_go_to_the_lower_index():
    anchors, levels = grid_anchors(64, 'second')
    grid = AnchorGrid.from_anchors(anchors, levels)
    face = np.array([[20.5, 20.5, 22.5, 22.5]], np.float32)  # inside several 16x24 anchors: equal IoUs
    iou = iou_matrix(face, anchors)[0]
    tied = np.flatnonzero(iou == iou.max())
    assert len(tied) > 1
    for fn in (lambda b: match(b, anchors, 0.35), lambda b: match_sparse(b, anchors, grid, 0.35)):
        assert np.flatnonzero(fn(face) == 0).tolist() == [tied[0]]
        twice = fn(np.concatenate([face, face]))  # equal best IoUs: face 0 goes first and takes the lower one
        assert np.flatnonzero(twice == 0).tolist() == [tied[0]]
        assert np.flatnonzero(twice == 1).tolist() == [tied[1]]


def numpy_order_match(boxes, anchors, positive_iou):
    """The matcher before ties were ranked by index (numpy's argpartition / quicksort order)."""
    assignment = np.full(len(anchors), -1, dtype=np.int64)
    iou = iou_matrix(boxes, anchors)
    best_face = iou.argmax(axis=0)
    best_iou = iou[best_face, np.arange(len(anchors))]
    assignment[best_iou >= positive_iou] = best_face[best_iou >= positive_iou]
    claimed = set()
    candidates = min(len(boxes) + 1, len(anchors))
    for face in np.argsort(iou.max(axis=1)):
        ranked = np.argpartition(-iou[face], candidates - 1)[:candidates]
        for anchor in ranked[np.argsort(-iou[face, ranked], kind='stable')]:
            if iou[face, anchor] <= 0:
                break
            if anchor not in claimed:
                claimed.add(anchor)
                assignment[anchor] = face
                break
    return assignment


def test_without_ties_the_assignment_is_the_original_one():
    """The index order of ties changed only what numpy's sort order decided before (it differed between
    numpy builds): on faces without equal IoUs the old and new rules agree."""
    rng = np.random.RandomState(4)
    anchors, levels = grid_anchors(128, 'second')
    compared = 0
    for _ in range(200):
        boxes = random_faces(rng, 128, rng.randint(1, 8), 'mixed')
        boxes = boxes[(boxes[:, 2] - boxes[:, 0] > 12) & (boxes[:, 3] - boxes[:, 1] > 12)]
        iou = iou_matrix(boxes, anchors)
        top = -np.sort(-iou, axis=1)[:, :len(boxes) + 1]  # a face's pick is among its F + 1 best
        if len(boxes) == 0 or len(np.unique(iou.max(axis=1))) < len(boxes) or \
                any(len(np.unique(t[t > 0])) < np.count_nonzero(t) for t in top):
            continue
        np.testing.assert_array_equal(match(boxes, anchors, 0.35), numpy_order_match(boxes, anchors, 0.35))
        compared += 1
    assert compared >= 20


def test_assigner_uses_the_grid_and_matches_dense_targets(monkeypatch):
    rng = np.random.RandomState(5)
    assigner = AnchorTargetAssigner((640, 640), SPEC, SHOTS, 0.35, 5.)
    assert all(grid is not None for grid in assigner.grids.values())
    visited = []
    kernel = matcher._kernel()

    class Counting(object):  # the kernel, counting the IoUs it computes
        def best_anchors(self, *args):
            best_iou, best_anchor, visits = kernel.best_anchors(*args)
            visited.append(visits)
            return best_iou, best_anchor, visits

        def claim_anchors(self, *args):
            visited.append(kernel.claim_anchors(*args))
            return visited[-1]

    monkeypatch.setattr(matcher, '_kernel', Counting)
    boxes = random_faces(rng, 640, 200, 'mixed')
    targets = assigner(boxes)
    # visited pairs: a small part of the 200 x 34,125 a dense match computes, per shot
    assert 0 < sum(visited) < 0.05 * 2 * 200 * len(assigner.anchors['second'])
    dense = AnchorTargetAssigner((640, 640), SPEC, SHOTS, 0.35, 5., dense=True)
    assert all(grid is None for grid in dense.grids.values())
    expected = dense(boxes)
    assert sorted(targets) == sorted(expected)
    for key in targets:
        np.testing.assert_array_equal(targets[key], expected[key])
    kept = np.count_nonzero((boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1))
    assert min(targets[shot + '_labels'].sum() for shot in SHOTS) >= kept
    positive = targets['second_labels'] == 1
    decoded = box_codec.decode_np(targets['second_boxes'][positive], assigner.anchors['second'][positive], 5.)
    assert np.abs(decoded[:, None] - boxes[None]).max(axis=2).min(axis=1).max() < 1e-3  # each decodes to a face


def test_without_the_kernel_the_assigner_warns_and_matches_densely(monkeypatch, caplog):
    monkeypatch.setattr(matcher, '_kernel', lambda: None)
    with caplog.at_level(logging.WARNING):
        assigner = AnchorTargetAssigner((128, 128), SPEC, SHOTS, 0.35, 5.)
    assert all(grid is None for grid in assigner.grids.values())
    assert 'grid_match.pyx) is not built' in caplog.text and 'setup.py build_ext --inplace' in caplog.text
    boxes = random_faces(np.random.RandomState(7), 128, 30, 'mixed')
    expected = AnchorTargetAssigner((128, 128), SPEC, SHOTS, 0.35, 5., dense=True)(boxes)
    for key, value in assigner(boxes).items():
        np.testing.assert_array_equal(value, expected[key])
