"""Anchor matching: per-anchor labels and encoded boxes for one image, computed in the data workers."""
import numpy as np

from lib.anchors import box_codec
from lib.anchors.generator import anchors_np, shot_scale


def iou_matrix(boxes, anchors):
    """IoU [F, A] between faces [F, 4] and anchors [A, 4] (continuous coordinates)."""
    ix1 = np.maximum(boxes[:, None, 0], anchors[None, :, 0])
    iy1 = np.maximum(boxes[:, None, 1], anchors[None, :, 1])
    ix2 = np.minimum(boxes[:, None, 2], anchors[None, :, 2])
    iy2 = np.minimum(boxes[:, None, 3], anchors[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    box_area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    anchor_area = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    return inter / np.maximum(box_area[:, None] + anchor_area[None, :] - inter, 1e-12)


def match(boxes, anchors, positive_iou):
    """Index of the face each anchor is assigned to, -1 for background.

    An anchor is positive when its best IoU >= positive_iou; in addition each face claims its own best
    anchor not already claimed by another face, so a face too small or oddly shaped for any threshold, or
    crowded by a neighbour, still gets a positive.
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


class AnchorTargetAssigner(object):
    """Callable boxes [N, 4] (input pixels) -> {'<shot>_labels': int32 [A], '<shot>_boxes': float32 [A, 4]}.

    Labels: 1 face, 0 background. Boxes are encoded against the anchor (zeros for background).
    Faces under one pixel wide or high are dropped before matching.
    """

    def __init__(self, input_size, spec, shots, positive_iou, encode_scale):
        height, width = input_size
        self.anchors = {shot: anchors_np(height, width, spec, shot_scale(spec, shot, shots)) for shot in shots}
        self.positive_iou = positive_iou
        self.encode_scale = encode_scale

    def __call__(self, boxes):
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        boxes = boxes[(boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)]
        targets = {}
        for shot, anchors in self.anchors.items():
            assignment = match(boxes, anchors, self.positive_iou)
            positive = assignment >= 0
            encoded = np.zeros_like(anchors)
            encoded[positive] = box_codec.encode_np(boxes[assignment[positive]], anchors[positive],
                                                    self.encode_scale)
            targets[shot + '_labels'] = positive.astype(np.int32)
            targets[shot + '_boxes'] = encoded
        return targets
