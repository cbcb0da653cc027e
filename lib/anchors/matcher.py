"""Anchor matching: per-anchor labels and encoded boxes for one image, computed in the data workers.

``match`` is the dense reference (every face against every anchor); ``match_sparse`` gives the identical
assignment visiting, per face, only the anchors of an AnchorGrid that can overlap it (the loops in C:
grid_match.pyx), so its cost follows the faces' sizes, not the anchor count times the crowd. Both rank equal
IoUs by the lower index (faces and anchors), so the result does not depend on how a numpy build orders ties.
"""
import logging

import numpy as np

from lib.anchors import box_codec
from lib.anchors.generator import anchors_np, feature_map_sizes, shot_scale
from lib.anchors.grid import SLACK, AnchorGrid
from lib.common.kernels import build_command, load_kernel

log = logging.getLogger(__name__)
VISIT_FRACTION = 0.5  # a face first visits the anchors that may reach this part of its best IoU bound
NEXT_FRACTION = 0.5  # a face whose best anchors are claimed looks again at this part of its last cut


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


def _kernel():
    """The compiled sparse matcher (grid_match.pyx), or None when it is not built for this Python."""
    return load_kernel('lib.anchors.grid_match')


def match_sparse(boxes, anchors, grid, positive_iou):
    """``match(boxes, anchors, positive_iou)``, exactly, for float32 boxes and the AnchorGrid of ``anchors``.

    A face visits the anchors whose IoU with it may reach its cut, min(positive_iou, VISIT_FRACTION x its
    IoU bound), so every positive is visited and the anchors it skips have IoUs below its cut. A decision
    that a skipped anchor could change (the face's best IoU, or its best unclaimed anchor's, is below the
    cut) is taken again at a lower cut. Falls back to ``match`` when the kernel is not built, grid is None,
    boxes are not finite float32, or positive_iou is 0 or less in float32 (every anchor is then positive).
    """
    boxes = np.asarray(boxes)
    kernel = None if grid is None else _kernel()
    if kernel is None or boxes.dtype != np.float32 or not np.float32(positive_iou) > 0 or \
            not np.isfinite(boxes).all():
        return match(boxes, anchors, positive_iou)
    assignment = np.full(len(anchors), -1, dtype=np.int64)
    if len(boxes) == 0:
        return assignment
    boxes = np.ascontiguousarray(boxes)
    bounds = grid.bounds(boxes)
    cut = np.clip(np.minimum(positive_iou * (1 - 1e-3), VISIT_FRACTION * bounds.max(axis=1)), 0, None)
    best_iou, best_anchor, _ = kernel.best_anchors(grid.arrays, SLACK, boxes, bounds, cut, positive_iou,
                                                   assignment)
    order = np.argsort(best_iou, kind='stable')
    kernel.claim_anchors(grid.arrays, SLACK, boxes, bounds, cut, order, best_iou, best_anchor, NEXT_FRACTION,
                         assignment)
    return assignment


class AnchorTargetAssigner(object):
    """Callable boxes [N, 4] (input pixels) -> {'<shot>_labels': int32 [A], '<shot>_boxes': float32 [A, 4]}.

    Labels: 1 face, 0 background. Boxes are encoded against the anchor (zeros for background).
    Faces under one pixel wide or high are dropped before matching. Matching is ``match_sparse`` over the
    anchors' grid; the dense ``match`` when ``dense`` (the reference, for checks and benchmarks), when the
    kernel is not built (with a warning saying how to build it), or when the generator's anchors are not a
    grid it recognises.
    """

    def __init__(self, input_size, spec, shots, positive_iou, encode_scale, dense=False):
        height, width = input_size
        self.anchors = {shot: anchors_np(height, width, spec, shot_scale(spec, shot, shots)) for shot in shots}
        levels = feature_map_sizes(height, width, spec)
        unbuilt = not dense and _kernel() is None
        sparse = not dense and not unbuilt
        self.grids = {shot: AnchorGrid.from_anchors(anchors, levels) if sparse else None
                      for shot, anchors in self.anchors.items()}
        if unbuilt:
            log.warning('the sparse matcher (lib/anchors/grid_match.pyx) is not built for this Python: dense '
                        'target assignment (slow in crowds); build it with: %s', build_command())
        elif sparse and any(grid is None for grid in self.grids.values()):
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
