"""Greedy non-maximum suppression on the host, the numpy twin of the frozen graph's pre-NMS top-k and
``tf.image.combined_non_max_suppression`` (one class, clip_boxes=True) for runtimes whose file stops at raw
boxes and scores (TFLite)."""
import numpy as np


def _iou_with(box, others):
    """IoU of one normalised box (ymin, xmin, ymax, xmax; corners in any order) with each of ``others``."""
    lo, hi = np.minimum(box[:2], box[2:]), np.maximum(box[:2], box[2:])
    others_lo, others_hi = np.minimum(others[:, :2], others[:, 2:]), np.maximum(others[:, :2], others[:, 2:])
    inter = np.prod(np.clip(np.minimum(hi, others_hi) - np.maximum(lo, others_lo), 0, None), axis=1)
    area, areas = np.prod(hi - lo), np.prod(others_hi - others_lo, axis=1)
    union = area + areas - inter
    return inter / np.where(union > 0, union, 1)  # a zero-area box meets nothing: IoU 0, as TF's


def nms(boxes, scores, iou_threshold, score_threshold, max_detections, top_k=None):
    """Indices kept from boxes [A, 4] / scores [A], best first: among the ``top_k`` best scores (None: all; equal
    scores, the lower index first, as tf.math.top_k) those above ``score_threshold``, a box dropped when its IoU
    with a kept one exceeds ``iou_threshold``, at most ``max_detections``."""
    boxes = np.asarray(boxes, np.float32)
    scores = np.asarray(scores, np.float32)
    candidates = np.flatnonzero(scores > score_threshold)
    candidates = candidates[np.argsort(-scores[candidates], kind='stable')][:top_k]
    kept = []
    while candidates.size and len(kept) < max_detections:
        best, candidates = candidates[0], candidates[1:]
        kept.append(best)
        if candidates.size:
            candidates = candidates[_iou_with(boxes[best], boxes[candidates]) <= iou_threshold]
    return np.array(kept, np.int64)


def batched_nms(boxes, scores, iou_threshold, score_threshold, max_detections, top_k=None):
    """The frozen graph's outputs from raw boxes [N, A, 4] and scores [N, A] (``nms`` per image): (boxes
    [N, K, 4] clipped to 0..1, scores [N, K], num_detections [N]), padded with zeros past num_detections,
    K = max_detections."""
    count = len(boxes)
    out_boxes = np.zeros((count, max_detections, 4), np.float32)
    out_scores = np.zeros((count, max_detections), np.float32)
    counts = np.zeros(count, np.int32)
    for i in range(count):
        kept = nms(boxes[i], scores[i], iou_threshold, score_threshold, max_detections, top_k)
        counts[i] = len(kept)
        out_boxes[i, :len(kept)] = np.clip(boxes[i][kept], 0., 1.)
        out_scores[i, :len(kept)] = scores[i][kept]
    return out_boxes, out_scores, counts
