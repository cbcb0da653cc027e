"""FDDB detection files and the FDDB ROC, computed as the official evaluation program does (Jain and
Learned-Miller, UMass, 2010: ``evaluate`` with rectangle detections).

Detection files (``fold-XX-out.txt``): per image its name, a count, then ``x y w h score`` lines.

Scoring, per image: annotated ellipses and detected rectangles are rasterised on the image's pixel grid as the
official program draws them with OpenCV (ellipse: centre rounded, semi-axes truncated, filled; rectangle: corners
(x, y) and (x + w, y + h) rounded, both ends included; both clipped to the image); the overlap of a pair is
|A and D| / |A or D| in pixels. For every distinct detection score t of the image, the detections scoring >= t
are matched one-to-one to the ellipses by a maximum-weight bipartite matching on the overlaps (the official uses
the Hungarian method); a matched pair with overlap > 0 adds the overlap to the continuous true positives, one with
overlap > 0.5 adds 1 to the discrete true positives, and every other detection scoring >= t is a false positive
(in both ROCs). One ROC point per distinct score over the whole set: the images' counts at that threshold,
summed (an image whose detections all score below it adds only its faces).
"""
import collections
import os

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from lib.common.errors import UserError, where
from lib.common.io import read_text_lines
from lib.data.fddb import image_path, read_ellipse_list

DISCRETE_OVERLAP = 0.5  # the discrete score counts a match whose overlap exceeds this

# One ROC point: its score threshold; annotated faces; discrete and continuous true positives; false positives.
RocPoint = collections.namedtuple('RocPoint', 'threshold faces tp_disc tp_cont fp')


# ------------------------------------------------------------------------------------------------ files

def detection_file(result_dir, number):
    """Where fold ``number``'s ('01') detections go: ``fold-01-out.txt``, the name FDDB's runEvaluate.pl reads."""
    return os.path.join(result_dir, 'fold-%s-out.txt' % number)


def format_detections(name, dets):
    """Detection-file text of one image from ``dets`` [K, 5] (x1, y1, x2, y2, score): ``x y w h score`` with
    integer pixels, w = x2 - x1 + 1 and 4-decimal scores, as the parent project's model_eval/fddb.py writes."""
    lines = [name, str(len(dets))]
    for x1, y1, x2, y2, score in np.asarray(dets, np.float64).reshape(-1, 5):
        lines.append('%d %d %d %d %.4f' % (int(x1), int(y1), int(x2 - x1 + 1), int(y2 - y1 + 1), score))
    return '\n'.join(lines) + '\n'


def read_detections(path):
    """{image name: float64 [K, 5] (x, y, w, h, score)} of a detection file, in file order."""
    lines = [(n, line.strip()) for n, line in enumerate(read_text_lines(path), 1) if line.strip()]
    out = collections.OrderedDict()
    index = 0
    while index < len(lines):
        number, name = lines[index]
        try:
            count = int(lines[index + 1][1]) if index + 1 < len(lines) else -1
        except ValueError:
            count = -1
        if count < 0:
            raise UserError('%s: image %s needs a detection count (an integer >= 0) on the next line'
                            % (where(path, number), name))
        rows = lines[index + 2:index + 2 + count]
        dets = np.zeros((count, 5), np.float64)
        for k, (row_number, row) in enumerate(rows):
            try:
                dets[k] = [float(t) for t in row.split()]
            except ValueError:
                raise UserError('%s: expected "x y w h score", got %r' % (where(path, row_number), row))
        if len(rows) < count:
            raise UserError('%s: image %s announces %d detections, the file ends after %d'
                            % (where(path, number), name, count, len(rows)))
        out[name] = dets
        index += 2 + count
    return out


# ------------------------------------------------------------------------------------------------ overlaps

def _round32(value):
    """OpenCV's cvPointFrom32f(cvPoint2D32f(v)): to float32, then round half to even."""
    return int(np.rint(np.float32(value)))


def ellipse_mask(shape, ellipse):
    """bool [H, W]: the pixels of one FDDB ellipse (ELLIPSE_FIELDS order) as the official program fills it."""
    major, minor, angle, cx, cy = [float(v) for v in ellipse]
    drawn_angle = 180. - (np.pi - angle) * 180. / np.pi  # its read() and display() conversions, in that order
    mask = np.zeros(shape[:2], np.uint8)
    cv2.ellipse(mask, (_round32(cx), _round32(cy)), (int(major), int(minor)), drawn_angle, 0, 360, 1, -1)
    return mask.astype(bool)


def rectangle_spans(shape, rects):
    """int64 [K, 4] inclusive pixel spans (x0, y0, x1, y1) of ``rects`` [K, 4] (x, y, w, h) as the official fills
    them, clipped to the image; an empty span has x1 < x0 or y1 < y0."""
    rects = np.asarray(rects, np.float64).reshape(-1, 4)
    xa = np.rint(rects[:, 0].astype(np.float32))
    ya = np.rint(rects[:, 1].astype(np.float32))
    xb = np.rint((rects[:, 0] + rects[:, 2]).astype(np.float32))
    yb = np.rint((rects[:, 1] + rects[:, 3]).astype(np.float32))
    height, width = shape[:2]
    x0, x1 = np.maximum(np.minimum(xa, xb), 0), np.minimum(np.maximum(xa, xb), width - 1)
    y0, y1 = np.maximum(np.minimum(ya, yb), 0), np.minimum(np.maximum(ya, yb), height - 1)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.int64)


def overlaps(shape, ellipses, rects):
    """float64 [N, K]: pixel-set overlap (intersection over union) of each ellipse with each rectangle."""
    ellipses = np.asarray(ellipses, np.float64).reshape(-1, 5)
    spans = rectangle_spans(shape, rects)
    x0, y0, x1, y1 = spans.T
    valid = (x1 >= x0) & (y1 >= y0)
    rect_area = np.where(valid, (x1 - x0 + 1) * (y1 - y0 + 1), 0)
    out = np.zeros((len(ellipses), len(spans)), np.float64)
    for i, ellipse in enumerate(ellipses):
        mask = ellipse_mask(shape, ellipse)
        integral = cv2.integral(mask.astype(np.uint8)).astype(np.int64)  # [H + 1, W + 1]
        xs0, ys0, xs1, ys1 = [np.where(valid, v, 0) for v in (x0, y0, x1 + 1, y1 + 1)]
        inter = np.where(valid, integral[ys1, xs1] - integral[ys0, xs1] - integral[ys1, xs0] + integral[ys0, xs0], 0)
        union = int(mask.sum()) + rect_area - inter
        out[i] = np.where(union > 0, inter / np.maximum(union, 1).astype(np.float64), 0.)
    return out


# ------------------------------------------------------------------------------------------------ counts

def match_scores(overlap):
    """The overlaps of the pairs of a maximum-weight one-to-one matching with overlap > 0 (1-D array)."""
    if overlap.size == 0:
        return np.zeros(0)
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    scores = overlap[rows, cols]
    return scores[scores > 0]


def image_counts(overlap, scores):
    """Per distinct score t of one image, ascending: (t, discrete TP, continuous TP, FP) of the detections
    scoring >= t, from the [N, K] ``overlap`` matrix; float64 [T, 4]."""
    scores = np.asarray(scores, np.float64)
    thresholds = np.unique(scores)
    touching = overlap.any(axis=0) if overlap.size else np.zeros(len(scores), bool)
    out = np.zeros((len(thresholds), 4), np.float64)
    cache = {}
    for k, t in enumerate(thresholds):
        valid = scores >= t
        key = int((valid & touching).sum())  # the valid overlapping detections are nested: their count names them
        if key not in cache:
            matched = match_scores(overlap[:, valid & touching])
            cache[key] = (float((matched > DISCRETE_OVERLAP).sum()), float(matched.sum()))
        tp_disc, tp_cont = cache[key]
        out[k] = (t, tp_disc, tp_cont, valid.sum() - tp_disc)
    return out


def roc(images):
    """The ROC of a set: ``images`` [(face count N, image_counts array)] -> [RocPoint], ascending threshold
    (descending false positives). An image without detections adds a point at threshold +inf, as the official's
    (DBL_MAX) does."""
    images = list(images)
    parts = [counts for _, counts in images if len(counts)]
    thresholds = np.unique(np.concatenate([c[:, 0] for c in parts])) if parts else np.zeros(0)
    if any(len(counts) == 0 for _, counts in images):
        thresholds = np.append(thresholds, np.inf)
    totals = np.zeros((len(thresholds), 3), np.float64)
    for counts in parts:
        index = np.searchsorted(counts[:, 0], thresholds, side='left')  # the image's first threshold >= t
        inside = index < len(counts)
        totals[inside] += counts[index[inside], 1:]
    faces = sum(n for n, _ in images)
    return [RocPoint(float(t), faces, tp_d, tp_c, int(round(fp))) for t, (tp_d, tp_c, fp) in zip(thresholds, totals)]


def rates(points):
    """float64 [P, 3]: (discrete TPR, continuous TPR, FP) per point; 0 when the set has no faces."""
    return np.array([(p.tp_disc / p.faces if p.faces else 0., p.tp_cont / p.faces if p.faces else 0., p.fp)
                     for p in points], np.float64).reshape(-1, 3)


def tpr_at(points, max_fp):
    """(discrete, continuous) true positive rate at ``max_fp`` false positives: the best rates over the points
    with at most that many false positives (0 when there is none)."""
    table = rates(points)
    table = table[table[:, 2] <= max_fp]
    if not len(table):
        return 0., 0.
    return float(table[:, 0].max()), float(table[:, 1].max())


def format_roc(points, continuous):
    """``DiscROC.txt`` / ``ContROC.txt`` text: ``tpr fp`` per point in the official's order and number format
    (C++ stream defaults: 6 significant digits)."""
    column = 1 if continuous else 0
    return ''.join('%s %d\n' % (_cpp_double(row[column]), row[2]) if point.faces else '0 0\n'  # as the official
                   for point, row in zip(points, rates(points)))


def _cpp_double(value):
    """A double as ``std::ostream <<`` prints it by default (%g with 6 significant digits)."""
    return '%g' % value


# ------------------------------------------------------------------------------------------------ a whole set

def _image_size(image_dir, name):
    path = image_path(image_dir, name)
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise UserError('%s is missing or not an image; --data_dir must be the folder the fold lists are relative '
                        'to (originalPics)' % path)
    return image.shape[:2]


def evaluate_folds(folds, image_dir, detection_files):
    """The ROC [RocPoint] of ``folds`` [Fold] against ``detection_files`` {fold number: path}; every annotated
    image needs its entry (maybe with count 0) in its fold's file, and nothing else may be there."""
    images = []
    for fold in folds:
        path = detection_files[fold.number]
        if not os.path.isfile(path):
            raise UserError('%s: no detection file for fold %s; run tools/fddb.py on these folds' % (path, fold.number))
        dets = read_detections(path)
        annotations = read_ellipse_list(fold.ellipse_path)
        missing = [name for name in annotations if name not in dets]
        extra = [name for name in dets if name not in annotations]
        if missing or extra:
            raise UserError('%s does not match %s: %s; detections and annotations must list the same images'
                            % (path, fold.ellipse_path, ('no detections for %s' % missing[0]) if missing
                               else ('%s is not annotated' % extra[0])))
        for name, ellipses in annotations.items():
            shape = _image_size(image_dir, name)
            overlap = overlaps(shape, ellipses, dets[name][:, :4])
            images.append((len(ellipses), image_counts(overlap, dets[name][:, 4])))
    return roc(images)
