"""WIDER FACE validation AP (easy / medium / hard), the official protocol, vectorised.

Pipeline: ``load_ground_truth`` (the official .mat files) -> ``read_predictions`` (one ``x y w h score`` file per
image) -> ``evaluate_predictions`` -> results dict; ``evaluate`` does all three. The protocol follows the official
MATLAB tool: scores normalised over the whole set, boxes of an image matched in descending score order to their
highest-IoU face (IoU >= 0.5, inclusive "+1" pixels), faces outside a setting's ``gt_list`` make their matches
ignored, a face is recalled once, 1000 score thresholds, VOC all-point AP. Pure numpy + one Cython kernel.
"""
import collections
import logging
import os
import re
import sys

import numpy as np
import scipy.io
from tqdm import tqdm

from lib.helper.errors import UserError, where
from lib.helper.io import atomic_path

log = logging.getLogger(__name__)

SETTINGS = ('easy', 'medium', 'hard')
IOU_THRESH = 0.5
THRESH_NUM = 1000
# t_k = 1 - (k + 1) / 1000, k = 0..999, computed exactly as the reference does (descending, ends at 0).
THRESHOLDS = 1 - (np.arange(THRESH_NUM) + 1) / THRESH_NUM
BUILD_DIR = os.path.dirname(os.path.abspath(__file__))

GroundTruth = collections.namedtuple('GroundTruth', ['images', 'boxes', 'counted'])
GroundTruth.__doc__ = """Validation ground truth, one entry per image in the .mat order.

images: list of (event, image name); boxes: list of float64 [M, 4] arrays (x, y, w, h);
counted: {setting: list of bool [M] arrays}, True for faces in that setting's gt_list.
"""

# A body of prediction lines, each blank or exactly five whitespace-separated tokens (the fast path's check).
_BOX_BODY = re.compile(r'(?:[ \t]*(?:\S+[ \t]+){4}\S+[ \t]*\n|[ \t]*\n)*'
                       r'(?:[ \t]*(?:\S+[ \t]+){4}\S+[ \t]*|[ \t]*)')


def overlap_kernel():
    """The compiled IoU function; a UserError saying how to build it when it is missing."""
    try:
        from tools.ap_eval.box_overlaps import bbox_overlaps
    except ImportError:
        raise UserError('the Cython box-overlap extension is not built for this Python; build it with: '
                        'cd %s && %s setup.py build_ext --inplace' % (BUILD_DIR, sys.executable))
    return bbox_overlaps


# ----------------------------------------------------------------------------------------------- ground truth

def _cells(value):
    """Elements of a MATLAB cell vector as a list, whether loadmat kept it as an (n, 1) / (1, n) object array,
    as a char array of names, or a writer squeezed a one-element cell down to its content."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        return list(value.ravel(order='F'))
    if isinstance(value, np.ndarray) and value.dtype.kind == 'U' and value.ndim > 0:
        return [str(name) for name in value.ravel(order='F')]
    return [value]


def _unwrap(value):
    """Strip one-element cell wrappers around a cell's content."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.ravel()[0]
    return value


def _text(value):
    """A cell holding a name -> str."""
    value = _unwrap(value)
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else ''
    return str(value).strip()


def _cell_vector(value, count, mat_path, field):
    """The ``count`` elements of a cell vector; a lone element may have been stored without its cell."""
    items = _cells(value)
    if len(items) != count and count == 1:
        items = [value]
    if len(items) != count:
        raise UserError('%s: has %d entries where %d were expected; the .mat files do not match each other'
                        % (where(mat_path, field=field), len(items), count))
    return items


def _face_boxes(value, mat_path, field):
    """A cell of face boxes -> float64 [M, 4] (x, y, w, h); accepts (M, 4), a squeezed (4,), or empty."""
    boxes = np.asarray(_unwrap(value), dtype=np.float64)
    if boxes.size % 4:
        raise UserError('%s: %d numbers is not a list of x y w h boxes' % (where(mat_path, field=field), boxes.size))
    return boxes.reshape(-1, 4)


def _counted_mask(value, num_faces, mat_path, field):
    """A gt_list cell (1-based face indices, any integer dtype or shape) -> bool [num_faces]."""
    index = np.asarray(_unwrap(value)).ravel()
    if index.size and (np.any(index != np.round(index)) or index.min() < 1 or index.max() > num_faces):
        raise UserError('%s: face indices %s must be integers in 1..%d (1-based)'
                        % (where(mat_path, field=field), index.tolist(), num_faces))
    mask = np.zeros(num_faces, dtype=bool)
    mask[index.astype(np.int64) - 1] = True
    return mask


def _load_mat(path, names):
    """The named variables of a .mat file; a UserError when it is missing, unreadable or lacks one."""
    if not os.path.isfile(path):
        raise UserError('ground truth file not found: %s; pass --gt=DIR with wider_face_val.mat and '
                        'wider_{easy,medium,hard}_val.mat' % path)
    try:
        mat = scipy.io.loadmat(path, variable_names=list(names))
    except Exception as err:  # scipy raises several types for corrupt files
        raise UserError('cannot read %s as a MATLAB .mat file: %s' % (path, err))
    missing = [name for name in names if name not in mat]
    if missing:
        raise UserError('%s lacks %s; expected the WIDER FACE evaluation ground truth' % (path, ', '.join(missing)))
    return mat


def _image_names(mat, mat_path):
    """[(event, [image names])] from event_list / file_list."""
    events = [_text(event) for event in _cells(mat['event_list'])]
    files = _cell_vector(mat['file_list'], len(events), mat_path, 'file_list')
    return [(event, [_text(name) for name in _cells(names)]) for event, names in zip(events, files)]


def load_ground_truth(gt_dir):
    """Read wider_face_val.mat (names, boxes) and wider_{easy,medium,hard}_val.mat (gt_list) into a GroundTruth."""
    face_path = os.path.join(gt_dir, 'wider_face_val.mat')
    face_mat = _load_mat(face_path, ['event_list', 'file_list', 'face_bbx_list'])
    layout = _image_names(face_mat, face_path)
    box_cells = _cell_vector(face_mat['face_bbx_list'], len(layout), face_path, 'face_bbx_list')
    images, boxes = [], []
    for (event, names), event_boxes in zip(layout, box_cells):
        field = 'face_bbx_list of %s' % event
        images.extend((event, name) for name in names)
        boxes.extend(_face_boxes(cell, face_path, field)
                     for cell in _cell_vector(event_boxes, len(names), face_path, field))
    counted = {setting: _load_counted(gt_dir, setting, layout, boxes) for setting in SETTINGS}
    return GroundTruth(images, boxes, counted)


def restrict_ground_truth(gt, images):
    """``gt`` limited to ``images`` ((event, name) pairs), in gt order: scores a run over part of the set
    without counting the faces of the images not run as missed."""
    wanted = set(images)
    keep = [i for i, image in enumerate(gt.images) if image in wanted]
    return GroundTruth([gt.images[i] for i in keep], [gt.boxes[i] for i in keep],
                       {setting: [masks[i] for i in keep] for setting, masks in gt.counted.items()})


def _load_counted(gt_dir, setting, layout, boxes):
    """One setting's gt_list as bool masks over each image's faces, checked against the main file's layout."""
    path = os.path.join(gt_dir, 'wider_%s_val.mat' % setting)
    mat = _load_mat(path, ['event_list', 'file_list', 'gt_list'])
    if _image_names(mat, path) != layout:
        raise UserError('%s lists other events or images than wider_face_val.mat; use files from one release'
                        % path)
    index_cells = _cell_vector(mat['gt_list'], len(layout), path, 'gt_list')
    image_boxes = iter(boxes)
    masks = []
    for (event, names), event_cells in zip(layout, index_cells):
        cells = _cell_vector(event_cells, len(names), path, 'gt_list of %s' % event)
        for name, cell in zip(names, cells):
            field = 'gt_list of %s/%s' % (event, name)
            masks.append(_counted_mask(cell, len(next(image_boxes)), path, field))
    return masks


# ----------------------------------------------------------------------------------------------- predictions

def _split_header(text, path):
    """-> (box count, its line number, body text after the count line). Leading blank lines are skipped."""
    lines = text.split('\n')
    header = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            header.append((number, line.strip()))
            if len(header) == 2:
                break
    if len(header) < 2:
        raise UserError('%s: expected an image name line and a box count line' % where(path))
    count_line, count_text = header[1]
    try:
        count = int(count_text)
    except ValueError:
        raise UserError('%s: expected the number of boxes, found %r' % (where(path, count_line), count_text))
    return count, count_line, '\n'.join(lines[count_line:])


def _parse_box_lines(body, path, first_line):
    """Line by line: every non-blank line must be five finite numbers; the first that is not is a UserError."""
    rows = []
    for number, line in enumerate(body.split('\n'), first_line):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 5:
            raise UserError('%s: expected 5 numbers "x y w h score", found %d' % (where(path, number), len(tokens)))
        try:
            row = [float(token) for token in tokens]
        except ValueError:
            raise UserError('%s: not a number in %r' % (where(path, number), line.strip()))
        if not np.all(np.isfinite(row)):
            raise UserError('%s: numbers must be finite, found %r' % (where(path, number), line.strip()))
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def _parse_boxes(body, path, first_line):
    """Box lines -> float64 [N, 5]; a whole-body parse when the layout is clean, else the line-by-line check."""
    if _BOX_BODY.fullmatch(body):
        try:
            values = np.array(body.split(), dtype=np.float64)
        except ValueError:
            values = None
        if values is not None and np.all(np.isfinite(values)):
            return values.reshape(-1, 5)
    return _parse_box_lines(body, path, first_line)


def read_prediction_file(path):
    """One WIDER result file (name line, count line, ``x y w h score`` lines) -> (boxes float64 [N, 5],
    count written in the file). Blank lines, tabs, trailing spaces and CRLF are fine; any line ending works."""
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read()
    count, count_line, body = _split_header(text, path)
    return _parse_boxes(body, path, count_line + 1), count


def read_predictions(pred_dir, gt, progress=True):
    """Read ``pred_dir/<event>/<image>.txt`` for every ground-truth image -> list of [N, 5] arrays in gt order.

    Missing folders or files count as no detections (one summary warning); files not in the ground truth are
    ignored; a count line that disagrees with the boxes is reported and the boxes are trusted.
    """
    if not os.path.isdir(pred_dir):
        raise UserError('prediction folder not found: %s (expected <event>/<image>.txt files)' % pred_dir)
    predictions, missing_events, missing_files, miscounted = [], set(), [], []
    for event, name in tqdm(gt.images, desc='reading predictions', unit='img', disable=None if progress else True):
        path = os.path.join(pred_dir, event, name + '.txt')
        if not os.path.isfile(path):
            if os.path.isdir(os.path.join(pred_dir, event)):
                missing_files.append(path)
            else:
                missing_events.add(event)
            predictions.append(np.zeros((0, 5)))
            continue
        boxes, count = read_prediction_file(path)
        if count != len(boxes):
            miscounted.append('%s (says %d, has %d)' % (path, count, len(boxes)))
        predictions.append(boxes)
    _report_reading(pred_dir, gt, missing_events, missing_files, miscounted)
    return predictions


def _report_reading(pred_dir, gt, missing_events, missing_files, miscounted):
    """One warning per kind of reading problem; a UserError when nothing at all was found."""
    all_events = {event for event, _ in gt.images}
    if all_events and len(missing_events) == len(all_events):
        raise UserError('no prediction folders under %s for any of the %d events (e.g. %s/%s); expected '
                        '<event>/<image>.txt' % (pred_dir, len(all_events), pred_dir, gt.images[0][0]))
    if missing_events or missing_files:
        images_lost = sum(1 for event, _ in gt.images if event in missing_events) + len(missing_files)
        log.warning('no predictions for %d of %d images (%d of %d event folders missing%s, %d files missing%s); '
                    'they count as detecting nothing', images_lost, len(gt.images), len(missing_events),
                    len(all_events), ', e.g. %s' % sorted(missing_events)[0] if missing_events else '',
                    len(missing_files), ', e.g. %s' % missing_files[0] if missing_files else '')
    if miscounted:
        log.warning('%d prediction files have a count line that disagrees with their boxes (e.g. %s); '
                    'using the boxes', len(miscounted), miscounted[0])


# ----------------------------------------------------------------------------------------------- protocol

def normalize_scores(predictions):
    """Scores over the whole set mapped to (s - min) / (max - min); all equal -> all 1, with a warning."""
    scores = np.concatenate([boxes[:, 4] for boxes in predictions]) if predictions else np.zeros(0)
    if not scores.size:
        log.warning('there are no predicted boxes at all; every AP is 0')
        return [boxes[:, 4] for boxes in predictions]
    low, high = scores.min(), scores.max()
    if high == low:
        log.warning('all %d predicted scores equal %g; normalising them all to 1 (the reference tool would '
                    'divide by zero and report 0)', scores.size, low)
        return [np.ones(len(boxes)) for boxes in predictions]
    return [(boxes[:, 4] - low) / (high - low) for boxes in predictions]


def _corners(boxes):
    """x y w h -> contiguous float64 x1 y1 x2 y2 (x2 = x1 + w, as the reference)."""
    xywh = np.asarray(boxes[:, :4], dtype=np.float64)
    return np.ascontiguousarray(np.hstack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]]))


def match_image(pred_boxes, gt_boxes, kernel):
    """Index of the face each prediction hits (its highest-IoU face when IoU >= 0.5), -1 where none."""
    overlaps = kernel(_corners(pred_boxes), _corners(gt_boxes))
    best = overlaps.argmax(axis=1)
    best_iou = overlaps[np.arange(len(best)), best]
    return np.where(best_iou >= IOU_THRESH, best, -1)


def _first_hits(faces):
    """True for the first prediction (in array order) hitting each face id; the one that recalls it."""
    hit_at = np.flatnonzero(faces >= 0)
    _, first = np.unique(faces[hit_at], return_index=True)
    is_first = np.zeros(len(faces), dtype=bool)
    is_first[hit_at[first]] = True
    return is_first


def match_all(predictions, scores, gt, progress=True):
    """Match every image once (setting-independent) -> (scores, global face id or -1, first-hit flags).

    Predictions of an image are taken in descending score order (stable, like the MATLAB tool's sort). Images
    without ground-truth faces are skipped, as the official tool does, so their boxes are not counted.
    """
    kernel = overlap_kernel()
    all_scores, all_faces, offset = [], [], 0
    for boxes, image_scores, gt_boxes in tqdm(list(zip(predictions, scores, gt.boxes)), desc='matching',
                                              unit='img', disable=None if progress else True):
        if len(boxes) and len(gt_boxes):
            order = np.argsort(-image_scores, kind='mergesort')
            faces = match_image(boxes[order], gt_boxes, kernel)
            all_scores.append(image_scores[order])
            all_faces.append(np.where(faces >= 0, faces + offset, -1))
        offset += len(gt_boxes)
    faces = np.concatenate(all_faces) if all_faces else np.zeros(0, dtype=np.int64)
    return (np.concatenate(all_scores) if all_scores else np.zeros(0)), faces, _first_hits(faces)


def _threshold_counts(first_threshold, weights):
    """Per threshold k: the sum of weights of predictions whose score >= t_k."""
    return np.cumsum(np.bincount(first_threshold, weights=weights.astype(np.float64), minlength=THRESH_NUM))


def pr_curve(first_threshold, faces, is_first, counted):
    """Precision and recall at the 1000 thresholds for one setting.

    counted: bool over all faces. A hit on an uncounted face is ignored; the first hit on a counted face
    recalls it; everything else is a false positive. Precision is 1 where there are no proposals yet.
    """
    hit = faces >= 0
    hits_counted = hit & counted[np.where(hit, faces, 0)] if counted.size else np.zeros_like(hit)
    proposals = _threshold_counts(first_threshold, ~hit | hits_counted)
    recalled = _threshold_counts(first_threshold, is_first & hits_counted)
    precision = np.where(proposals > 0, recalled / np.maximum(proposals, 1), 1.0)
    recall = recalled / max(int(counted.sum()), 1)
    return precision, recall


def voc_ap(recall, precision):
    """VOC all-point AP: area under the precision envelope, summed over the recall steps."""
    mrec = np.concatenate(([0.], recall, [1.]))
    mpre = np.concatenate(([0.], precision, [0.]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    step = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1]))


def evaluate_predictions(predictions, gt, progress=True):
    """Predictions (list of [N, 5] x y w h score, gt order) -> {'easy', 'medium', 'hard': AP, 'curves': {...}}.

    curves[setting] holds 'threshold', 'precision', 'recall' arrays over the 1000 score thresholds.
    """
    if len(predictions) != len(gt.images):
        raise ValueError('%d prediction arrays for %d images' % (len(predictions), len(gt.images)))
    scores, faces, is_first = match_all(predictions, normalize_scores(predictions), gt, progress)
    # First threshold index k with score >= t_k: t ascends reversed, so count the t_j <= score.
    first_threshold = THRESH_NUM - np.searchsorted(THRESHOLDS[::-1], scores, side='right')
    results = {'curves': {}}
    for setting in SETTINGS:
        counted = np.concatenate(gt.counted[setting]) if gt.images else np.zeros(0, dtype=bool)
        if not counted.any():
            log.warning('the %s setting counts no faces; its AP is 0', setting)
        precision, recall = pr_curve(first_threshold, faces, is_first, counted)
        results[setting] = voc_ap(recall, precision)
        results['curves'][setting] = {'threshold': THRESHOLDS.copy(), 'precision': precision, 'recall': recall}
    return results


def evaluate(pred_dir, gt_dir, progress=True):
    """Easy / medium / hard AP of the result folder ``pred_dir`` against the ground truth in ``gt_dir``."""
    gt = load_ground_truth(gt_dir)
    overlap_kernel()  # fail before reading every file when the extension is not built
    return evaluate_predictions(read_predictions(pred_dir, gt, progress), gt, progress)


# ----------------------------------------------------------------------------------------------- output

def format_results(results):
    """The results block the reference prints (full float precision)."""
    return '\n'.join(['=' * 20 + ' Results ' + '=' * 20,
                      'Easy   Val AP: {}'.format(float(results['easy'])),
                      'Medium Val AP: {}'.format(float(results['medium'])),
                      'Hard   Val AP: {}'.format(float(results['hard'])),
                      '=' * 49])


def results_to_json(results):
    """The results dict with arrays turned into lists, ready for json."""
    curves = {setting: {key: np.asarray(values).tolist() for key, values in curve.items()}
              for setting, curve in results['curves'].items()}
    return dict({setting: float(results[setting]) for setting in SETTINGS}, curves=curves)


def plot_curves(results, path):
    """Draw the three precision-recall curves into an image file, atomically; the format follows the extension
    (.png when there is none). Uses matplotlib's Agg canvas directly, leaving the process's backend alone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for setting in SETTINGS:
        curve = results['curves'][setting]
        ax.plot(curve['recall'], curve['precision'], label='%s (AP %.4f)' % (setting, results[setting]))
    ax.set(xlabel='recall', ylabel='precision', xlim=(0, 1), ylim=(0, 1.01), title='WIDER FACE val')
    ax.grid(True, alpha=0.3)
    ax.legend(loc='lower left')
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=os.path.splitext(path)[1][1:] or 'png')
