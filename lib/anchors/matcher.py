"""Anchor matching: per-anchor labels and encoded boxes for one image, computed in the data workers.

``match`` is the dense reference (every face against every anchor); ``match_sparse`` gives the identical
assignment visiting, per face, only the anchors of an AnchorGrid that can overlap it, so its cost follows the
faces' sizes, not the anchor count times the crowd. Both rank equal IoUs by the lower index (faces and
anchors), so the result does not depend on how a numpy build orders ties.
"""
import logging

import numpy as np

from lib.anchors import box_codec
from lib.anchors.generator import anchors_np, feature_map_sizes, shot_scale
from lib.anchors.grid import AnchorGrid

log = logging.getLogger(__name__)
VISIT_FRACTION = 0.5  # a face first visits the anchors that may reach this part of its best IoU bound
NEXT_FRACTION = 0.5  # each further look visits the anchors that may reach this part of the last cut
LOOKAHEAD = 2.  # ... for every face still to come whose best unclaimed IoU is below this many times its cut


def _iou(box, anchor):
    """Elementwise IoU of (x1, y1, x2, y2) column tuples; the one formula of both matchers, so that their
    values are bit-identical."""
    ix1 = np.maximum(box[0], anchor[0])
    iy1 = np.maximum(box[1], anchor[1])
    ix2 = np.minimum(box[2], anchor[2])
    iy2 = np.minimum(box[3], anchor[3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    box_area = (box[2] - box[0]) * (box[3] - box[1])
    anchor_area = (anchor[2] - anchor[0]) * (anchor[3] - anchor[1])
    return inter / np.maximum(box_area + anchor_area - inter, 1e-12)


def iou_matrix(boxes, anchors):
    """IoU [F, A] between faces [F, 4] and anchors [A, 4] (continuous coordinates)."""
    return _iou([boxes[:, None, k] for k in range(4)], [anchors[None, :, k] for k in range(4)])


def match(boxes, anchors, positive_iou):
    """Index of the face each anchor is assigned to, -1 for background.

    An anchor is positive when its best IoU >= positive_iou (its best face: the lowest index among equals);
    in addition each face, in ascending order of its best IoU (lower index first among equals), claims its best
    anchor not already claimed by another face (the lowest index among equal IoUs), so a face too small or
    oddly shaped for any threshold, or crowded by a neighbour, still gets a positive.
    """
    assignment = np.full(len(anchors), -1, dtype=np.int64)
    if len(boxes) == 0:
        return assignment
    iou = iou_matrix(boxes, anchors)
    best_face = iou.argmax(axis=0)
    best_iou = iou[best_face, np.arange(len(anchors))]
    positive = best_iou >= positive_iou
    assignment[positive] = best_face[positive]
    claimed = set()
    # at most F - 1 anchors are claimed before a face's turn: its pick is among its F + 1 best (and their ties)
    last = len(anchors) - min(len(boxes) + 1, len(anchors))
    for face in np.argsort(iou.max(axis=1), kind='stable'):
        row = iou[face]
        ranked = np.flatnonzero((row >= np.partition(row, last)[last]) & (row > 0))
        for anchor in ranked[np.argsort(-row[ranked], kind='stable')]:
            if anchor not in claimed:
                claimed.add(anchor)
                assignment[anchor] = face
                break
    return assignment


class _Pairs(object):
    """The (face, anchor, IoU) pairs that faces visit, grouped by face (``start`` [F + 1]: where each face's
    run starts), with each face's best IoU among them (0 for none) and its best anchor (the lowest index
    among equals; -1 for none)."""

    def __init__(self, boxes, grid, near):
        self.face, self.anchor, self.start = grid.indices(near)
        self.iou = _iou([np.ascontiguousarray(boxes[:, k])[self.face] for k in range(4)],
                        [c[self.anchor] for c in grid.columns])
        self.best = np.zeros(len(boxes), self.iou.dtype)
        self.top = np.full(len(boxes), -1, np.int64)
        some = np.flatnonzero(self.start[1:] > self.start[:-1])
        if len(some):
            self.best[some] = np.maximum.reduceat(self.iou, self.start[some])
            at_best = np.where(self.iou == self.best[self.face], self.anchor, grid.size)
            self.top[some] = np.minimum.reduceat(at_best, self.start[some])

    def best_unclaimed(self, face, claimed):
        """(IoU, anchor) of a face's best unclaimed visited anchor, the lowest index among equals (runs are
        ascending by index); (-1, None) when all are claimed."""
        begin, end = self.start[face], self.start[face + 1]
        if begin == end:
            return -1., None
        free = np.where(claimed[self.anchor[begin:end]], -1, self.iou[begin:end])
        k = free.argmax()
        return (float(free[k]), int(self.anchor[begin + k])) if free[k] >= 0 else (-1., None)


class _Visit(object):
    """Which anchors faces visit at cuts [F]: every anchor whose IoU with the face may reach its cut (a
    superset, from AnchorGrid.ranges), so any anchor a face skips has an IoU below its cut."""

    def __init__(self, boxes, grid):
        self.boxes, self.grid = boxes, grid
        self.bounds = grid.bounds(boxes)

    def __call__(self, cut, faces=None):
        """_Pairs of all faces, or of those listed in ``faces`` (numbered in that list)."""
        boxes, bounds = (self.boxes, self.bounds) if faces is None else (self.boxes[faces], self.bounds[faces])
        return _Pairs(boxes, self.grid, self.grid.ranges(boxes, bounds, cut))


def match_sparse(boxes, anchors, grid, positive_iou):
    """``match(boxes, anchors, positive_iou)``, exactly, for float32 boxes and the AnchorGrid of ``anchors``.

    A face visits the anchors whose IoU with it may reach its cut, min(positive_iou, VISIT_FRACTION x its
    IoU bound), so every positive is visited and the anchors it skips have IoUs below its cut. A decision
    that a skipped anchor could change (the face's best IoU, or its best unclaimed anchor's, is below the
    cut) is taken again at a lower cut. Falls back to ``match`` when grid is None, boxes are not finite
    float32, or positive_iou <= 0 (every anchor would then be positive).
    """
    boxes = np.asarray(boxes)
    if grid is None or boxes.dtype != np.float32 or not positive_iou > 0 or not np.isfinite(boxes).all():
        return match(boxes, anchors, positive_iou)
    assignment = np.full(len(anchors), -1, dtype=np.int64)
    if len(boxes) == 0:
        return assignment
    visit = _Visit(boxes, grid)
    cut = np.clip(np.minimum(positive_iou * (1 - 1e-3), VISIT_FRACTION * visit.bounds.max(axis=1)), 0, None)
    pairs = visit(cut)
    if (pairs.best < cut).any():  # a skipped anchor may hold the best IoU: visit all that overlap the face
        cut[pairs.best < cut] = 0
        pairs = visit(cut)

    strong = pairs.iou >= positive_iou  # all visited: every cut is below positive_iou
    anchor, face, iou = pairs.anchor[strong], pairs.face[strong], pairs.iou[strong]
    by_anchor = np.lexsort((face, -iou, anchor))
    anchor, face = anchor[by_anchor], face[by_anchor]
    first = np.ones(len(anchor), bool)
    first[1:] = anchor[1:] != anchor[:-1]
    assignment[anchor[first]] = face[first]

    claimed = np.zeros(len(anchors), bool)
    claim = _Claims(visit, pairs, cut)
    best, top = pairs.best.tolist(), pairs.top.tolist()
    for f in np.argsort(pairs.best, kind='stable').tolist():
        if best[f] <= 0:
            continue
        pick = top[f]
        if claimed[pick]:
            value, pick = claim.next_best(f, claimed)
            if value <= 0:
                continue
        claimed[pick] = True
        assignment[pick] = f
    return assignment


class _Claims(object):
    """Where faces whose best anchor is claimed find their next best: in tiers of pairs at lower and lower
    cuts. When a face needs the next tier, every face still to come on its tier whose best unclaimed IoU is
    below LOOKAHEAD times its cut comes along, so a crowd costs a few vectorised visits rather than one a
    face."""

    def __init__(self, visit, pairs, cut):
        self.visit = visit
        self.tiers = [(pairs, cut, np.arange(len(cut)))]  # (pairs, cut and face of each row)
        self.tier = np.zeros(len(cut), np.int64)  # the tier each face looks at, and its row there
        self.row = np.arange(len(cut))
        self.done = np.zeros(len(cut), bool)

    def next_best(self, face, claimed):
        """(IoU, anchor) of the face's best unclaimed anchor (IoU <= 0: none); the face is done after."""
        self.done[face] = True
        while True:
            pairs, cut, faces = self.tiers[self.tier[face]]
            row = self.row[face]
            value, pick = pairs.best_unclaimed(row, claimed)
            if value >= cut[row] or cut[row] <= 0:
                return value, pick
            free = np.where(claimed[pairs.anchor], -1, pairs.iou)
            some = np.flatnonzero(pairs.start[1:] > pairs.start[:-1])
            best_free = np.full(len(faces), -1, free.dtype)
            best_free[some] = np.maximum.reduceat(free, pairs.start[some])
            short = (best_free < cut * LOOKAHEAD) & (cut > 0) & ~self.done[faces]
            short &= self.tier[faces] == self.tier[face]
            short[row] = True
            self.deeper(faces[short], cut[short])

    def deeper(self, faces, cut):
        """Move faces to a new tier at a part of their cuts (0 once tiny: every anchor that overlaps them)."""
        cut = cut * NEXT_FRACTION
        cut[cut < 1e-4] = 0.
        self.tiers.append((self.visit(cut, faces), cut, faces))
        self.tier[faces] = len(self.tiers) - 1
        self.row[faces] = np.arange(len(faces))


class AnchorTargetAssigner(object):
    """Callable boxes [N, 4] (input pixels) -> {'<shot>_labels': int32 [A], '<shot>_boxes': float32 [A, 4]}.

    Labels: 1 face, 0 background. Boxes are encoded against the anchor (zeros for background).
    Faces under one pixel wide or high are dropped before matching. Matching is ``match_sparse`` over the
    anchors' grid; the dense ``match`` when ``dense`` (the reference, for checks and benchmarks) or when the
    generator's anchors are not a grid it recognises.
    """

    def __init__(self, input_size, spec, shots, positive_iou, encode_scale, dense=False):
        height, width = input_size
        self.anchors = {shot: anchors_np(height, width, spec, shot_scale(spec, shot, shots)) for shot in shots}
        levels = feature_map_sizes(height, width, spec)
        self.grids = {shot: None if dense else AnchorGrid.from_anchors(anchors, levels)
                      for shot, anchors in self.anchors.items()}
        if not dense and any(grid is None for grid in self.grids.values()):
            log.warning('anchors of %dx%d are not a grid the sparse matcher recognises: dense target '
                        'assignment (slow in crowds)', height, width)
        self.positive_iou = positive_iou
        self.encode_scale = encode_scale

    def __call__(self, boxes):
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        boxes = boxes[(boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)]
        targets = {}
        for shot, anchors in self.anchors.items():
            assignment = match_sparse(boxes, anchors, self.grids[shot], self.positive_iou)
            positive = assignment >= 0
            encoded = np.zeros_like(anchors)
            encoded[positive] = box_codec.encode_np(boxes[assignment[positive]], anchors[positive],
                                                    self.encode_scale)
            targets[shot + '_labels'] = positive.astype(np.int32)
            targets[shot + '_boxes'] = encoded
        return targets
