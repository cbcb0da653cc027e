# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""IoU matrix with the inclusive "+1" pixel convention of the WIDER FACE evaluation, in C speed."""
import numpy as np


def bbox_overlaps(double[:, ::1] boxes, double[:, ::1] query_boxes):
    """IoU of every box (N x 4, corners x1 y1 x2 y2) with every query box (K x 4) -> N x K float64.

    A box spans x2 - x1 + 1 by y2 - y1 + 1 pixels. Pairs that do not share at least a positive
    width and height get 0, so degenerate (zero or negative size) boxes never divide by zero.
    """
    cdef Py_ssize_t n_boxes = boxes.shape[0], n_query = query_boxes.shape[0], n, k
    overlaps = np.zeros((n_boxes, n_query), dtype=np.float64)
    query_areas = np.empty(n_query, dtype=np.float64)
    cdef double[:, ::1] out = overlaps
    cdef double[::1] q_area = query_areas
    cdef double iw, ih, area
    with nogil:
        for k in range(n_query):
            q_area[k] = ((query_boxes[k, 2] - query_boxes[k, 0] + 1) *
                         (query_boxes[k, 3] - query_boxes[k, 1] + 1))
        for n in range(n_boxes):
            area = (boxes[n, 2] - boxes[n, 0] + 1) * (boxes[n, 3] - boxes[n, 1] + 1)
            for k in range(n_query):
                iw = min(boxes[n, 2], query_boxes[k, 2]) - max(boxes[n, 0], query_boxes[k, 0]) + 1
                if iw > 0:
                    ih = min(boxes[n, 3], query_boxes[k, 3]) - max(boxes[n, 1], query_boxes[k, 1]) + 1
                    if ih > 0:
                        out[n, k] = iw * ih / (area + q_area[k] - iw * ih)
    return overlaps
