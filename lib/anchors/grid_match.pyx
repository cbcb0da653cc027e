# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The sparse matcher's loops in C: a face visits, block by block, the rectangle of grid anchors whose IoU with
it may reach a cut (lib/anchors/grid.py reads the blocks off the anchors and bounds each block's IoU; _rectangle
says why a rectangle holds every such anchor), so that target assignment costs what the faces' sizes cost,
with no per-face Python overhead in crowds.

IoUs are computed with the float32 operations of matcher._iou in the same order (the module is compiled with
-ffp-contract=off: no fused multiply-add), so every value, and hence every comparison, equals the dense
reference's. Threshold comparisons are float32 like NumPy's (array >= Python float); cuts are float64.
"""
import numpy as np

from libc.math cimport INFINITY, nextafterf
from libc.stdint cimport int64_t


cdef struct Grid:
    # per block b: its columns x1[col_start[b]:col_start[b + 1]] (x2 alike), its rows y1, y2 from row_start
    const float* x1
    const float* x2
    const float* y1
    const float* y2
    const int64_t* col_start
    const int64_t* row_start
    const int64_t* base
    const int64_t* row_step
    const int64_t* col_step
    const double* area_min
    const double* width_max
    const double* height_max
    Py_ssize_t blocks
    double slack


cdef struct Face:
    float x1, y1, x2, y2, area  # area as matcher._iou computes it (float32)
    double width, height, true_area  # exact (float64), true_area 0 for an empty box
    const double* bounds  # [blocks]: IoU upper bound per block (grid.bounds)


cdef struct Best:
    float iou  # -1: none visited
    int64_t anchor


cdef inline double _max(double a, double b) noexcept nogil:
    return a if a > b else b


cdef inline double _min(double a, double b) noexcept nogil:
    return a if a < b else b


cdef inline Py_ssize_t _left(const float* values, Py_ssize_t n, double v) noexcept nogil:
    """np.searchsorted(values, v, 'left') of ascending values: the first i with values[i] >= v."""
    cdef Py_ssize_t low = 0, high = n, mid
    while low < high:
        mid = (low + high) >> 1
        if values[mid] < v:
            low = mid + 1
        else:
            high = mid
    return low


cdef inline Py_ssize_t _right(const float* values, Py_ssize_t n, double v) noexcept nogil:
    """np.searchsorted(values, v, 'right'): the first i with values[i] > v."""
    cdef Py_ssize_t low = 0, high = n, mid
    while low < high:
        mid = (low + high) >> 1
        if values[mid] <= v:
            low = mid + 1
        else:
            high = mid
    return low


cdef inline bint _rectangle(const Grid* g, Py_ssize_t b, const Face* f, double cut, Py_ssize_t* r0,
                            Py_ssize_t* r1, Py_ssize_t* c0, Py_ssize_t* c1) noexcept nogil:
    """Rows [r0, r1) and columns [c0, c1) of block b holding every anchor whose IoU with the face may reach
    cut (cut 0: every anchor that overlaps it); False when there is none. IoU <= overlap width x min(heights)
    / max(areas), so an anchor needs an overlap of at least cut x max(areas) / min(heights) on x, alike on y;
    an overlap is strict: an anchor edge beyond the face's, the next float32 up or down."""
    if f.bounds[b] < cut:
        return False
    cdef double need = cut * (1 - g.slack) * _max(f.true_area, g.area_min[b])
    cdef double need_x = _max(need / _max(_min(f.height, g.height_max[b]), 1e-30) - 1e-3, 0.)
    cdef double need_y = _max(need / _max(_min(f.width, g.width_max[b]), 1e-30) - 1e-3, 0.)
    cdef double low_x = _max(<double>f.x1 + need_x, nextafterf(f.x1, INFINITY))
    cdef double high_x = _min(<double>f.x2 - need_x, nextafterf(f.x2, -INFINITY))
    cdef double low_y = _max(<double>f.y1 + need_y, nextafterf(f.y1, INFINITY))
    cdef double high_y = _min(<double>f.y2 - need_y, nextafterf(f.y2, -INFINITY))
    cdef int64_t cs = g.col_start[b], rs = g.row_start[b]
    cdef Py_ssize_t cols = g.col_start[b + 1] - cs, rows = g.row_start[b + 1] - rs
    c0[0] = _left(g.x2 + cs, cols, low_x)
    c1[0] = _right(g.x1 + cs, cols, high_x)
    r0[0] = _left(g.y2 + rs, rows, low_y)
    r1[0] = _right(g.y1 + rs, rows, high_y)
    return r1[0] > r0[0] and c1[0] > c0[0]


cdef inline float _iou(const Face* f, float ax1, float ay1, float ax2, float ay2) noexcept nogil:
    """matcher._iou of one face and one anchor, operation for operation."""
    cdef float ix1 = f.x1 if f.x1 > ax1 else ax1
    cdef float iy1 = f.y1 if f.y1 > ay1 else ay1
    cdef float ix2 = f.x2 if f.x2 < ax2 else ax2
    cdef float iy2 = f.y2 if f.y2 < ay2 else ay2
    cdef float iw = ix2 - ix1
    cdef float ih = iy2 - iy1
    if iw < 0:
        iw = 0
    if ih < 0:
        ih = 0
    cdef float inter = iw * ih
    cdef float anchor_area = (ax2 - ax1) * (ay2 - ay1)
    cdef float union = f.area + anchor_area - inter
    if union < <float>1e-12:
        union = <float>1e-12
    return inter / union


cdef Best _visit(const Grid* g, const Face* f, double cut, const unsigned char* claimed, int64_t face,
                 float positive_iou, float* anchor_best, int64_t* assignment, int64_t* visits) noexcept nogil:
    """The face's best visited anchor (highest IoU, lowest index among equals), skipping claimed anchors
    when ``claimed`` is given. With ``anchor_best``, also makes the face every visited anchor's match where
    its IoU >= positive_iou beats the anchor's best so far (faces come in ascending order: ties keep the
    lower face). Adds the number of IoUs computed to ``visits``."""
    cdef Best best
    best.iou = -1
    best.anchor = -1
    cdef Py_ssize_t b, r, c, r0, r1, c0, c1
    cdef int64_t cs, rs, index
    cdef float iou, ay1, ay2
    for b in range(g.blocks):
        if not _rectangle(g, b, f, cut, &r0, &r1, &c0, &c1):
            continue
        cs, rs = g.col_start[b], g.row_start[b]
        for r in range(r0, r1):
            ay1, ay2 = g.y1[rs + r], g.y2[rs + r]
            for c in range(c0, c1):
                index = g.base[b] + r * g.row_step[b] + c * g.col_step[b]
                if claimed != NULL and claimed[index]:
                    continue
                iou = _iou(f, g.x1[cs + c], ay1, g.x2[cs + c], ay2)
                visits[0] += 1
                if iou > best.iou or (iou == best.iou and index < best.anchor):
                    best.iou, best.anchor = iou, index
                if anchor_best != NULL and iou >= positive_iou and iou > anchor_best[index]:
                    anchor_best[index] = iou
                    assignment[index] = face
    return best


cdef Grid _grid(dict arrays, double slack):
    cdef Grid g
    cdef const float[::1] x1 = arrays['x1'], x2 = arrays['x2'], y1 = arrays['y1'], y2 = arrays['y2']
    cdef const int64_t[::1] col_start = arrays['col_start'], row_start = arrays['row_start']
    cdef const int64_t[::1] base = arrays['base'], row_step = arrays['row_step'], col_step = arrays['col_step']
    cdef const double[::1] area_min = arrays['area_min'], width_max = arrays['width_max']
    cdef const double[::1] height_max = arrays['height_max']
    g.x1, g.x2, g.y1, g.y2 = &x1[0], &x2[0], &y1[0], &y2[0]
    g.col_start, g.row_start = &col_start[0], &row_start[0]
    g.base, g.row_step, g.col_step = &base[0], &row_step[0], &col_step[0]
    g.area_min, g.width_max, g.height_max = &area_min[0], &width_max[0], &height_max[0]
    g.blocks = len(base)
    g.slack = slack
    return g  # the pointers stay valid: ``arrays`` holds the buffers for the caller's whole call


cdef inline Face _face(const float[:, ::1] boxes, const double[:, ::1] bounds,
                       Py_ssize_t i) noexcept nogil:
    cdef Face f
    f.x1, f.y1, f.x2, f.y2 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
    f.area = (f.x2 - f.x1) * (f.y2 - f.y1)
    f.width = <double>f.x2 - <double>f.x1
    f.height = <double>f.y2 - <double>f.y1
    f.true_area = f.width * f.height if f.width > 0 and f.height > 0 else 0.
    f.bounds = &bounds[i, 0]
    return f


def best_anchors(dict arrays, double slack, const float[:, ::1] boxes, const double[:, ::1] bounds,
                 double[::1] cut, float positive_iou, int64_t[::1] assignment):
    """Every face's best IoU and anchor (the lowest index among equals): float32 [F], int64 [F] (0 and -1 when
    no anchor overlaps it), and the number of IoUs computed; fills in the positives: assignment[a] = the face
    of anchor a's best IoU >= positive_iou (the lowest face among equals). A face visits the anchors that may
    reach cut[f] (every cut below positive_iou, so every positive is seen); where its best visited IoU is below
    its cut, a skipped anchor could beat it, so it visits again at that IoU (0: every overlapping anchor) and
    cut[f] becomes it."""
    cdef Grid g = _grid(arrays, slack)
    cdef Py_ssize_t faces = boxes.shape[0], i
    best_iou = np.zeros(faces, np.float32)
    best_anchor = np.full(faces, -1, np.int64)
    anchor_best = np.full(assignment.shape[0], -1, np.float32)
    cdef float[::1] best_iou_v = best_iou, anchor_best_v = anchor_best
    cdef int64_t[::1] best_anchor_v = best_anchor
    cdef int64_t visits = 0
    cdef Face f
    cdef Best best
    with nogil:
        for i in range(faces):
            f = _face(boxes, bounds, i)
            best = _visit(&g, &f, cut[i], NULL, i, positive_iou, &anchor_best_v[0], &assignment[0], &visits)
            if best.iou < cut[i]:
                cut[i] = best.iou if best.iou > 0 else 0.
                best = _visit(&g, &f, cut[i], NULL, i, positive_iou, NULL, NULL, &visits)
            if best.iou > 0:
                best_iou_v[i], best_anchor_v[i] = best.iou, best.anchor
    return best_iou, best_anchor, visits


def claim_anchors(dict arrays, double slack, const float[:, ::1] boxes, const double[:, ::1] bounds,
                  const double[::1] cut, const int64_t[::1] order, const float[::1] best_iou,
                  const int64_t[::1] best_anchor, double next_fraction, int64_t[::1] assignment):
    """Faces in ``order`` each claim their best anchor not claimed before (IoU > 0; the lowest index among
    equals) and become its match. A face whose best is claimed looks again at lower and lower cuts (times
    next_fraction, then 0) until its best unclaimed anchor reaches the cut: the anchors it skips are below.
    Returns the number of IoUs computed."""
    cdef Grid g = _grid(arrays, slack)
    claimed = np.zeros(assignment.shape[0], np.uint8)
    cdef unsigned char[::1] claimed_v = claimed
    cdef Py_ssize_t k, i
    cdef int64_t visits = 0
    cdef double level
    cdef Face f
    cdef Best best
    with nogil:
        for k in range(order.shape[0]):
            i = order[k]
            if best_iou[i] <= 0:
                continue
            best.iou, best.anchor = best_iou[i], best_anchor[i]
            if claimed_v[best.anchor]:
                f = _face(boxes, bounds, i)
                level = cut[i]
                while True:
                    best = _visit(&g, &f, level, &claimed_v[0], i, 0, NULL, NULL, &visits)
                    if best.iou >= level or level <= 0:
                        break
                    level = level * next_fraction if level * next_fraction >= 1e-4 else 0.
                if best.iou <= 0:
                    continue
            claimed_v[best.anchor] = 1
            assignment[best.anchor] = i
    return visits


def visited(dict arrays, double slack, const float[:, ::1] boxes, const double[:, ::1] bounds,
            const double[::1] cut, Py_ssize_t anchors):
    """[F, anchors] bool: the anchors each face visits at its cut (how tests check the rectangles)."""
    cdef Grid g = _grid(arrays, slack)
    mask = np.zeros((boxes.shape[0], anchors), np.uint8)
    cdef unsigned char[:, ::1] m = mask
    cdef Py_ssize_t i, b, r, c, r0, r1, c0, c1
    cdef Face f
    for i in range(boxes.shape[0]):
        f = _face(boxes, bounds, i)
        for b in range(g.blocks):
            if _rectangle(&g, b, &f, cut[i], &r0, &r1, &c0, &c1):
                for r in range(r0, r1):
                    for c in range(c0, c1):
                        m[i, g.base[b] + r * g.row_step[b] + c * g.col_step[b]] += 1
    return mask
