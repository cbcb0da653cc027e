"""WIDER FACE validation AP (easy / medium / hard), the official protocol, vectorised.

Pipeline: ``load_ground_truth`` (the official .mat files) -> ``read_predictions`` (one ``x y w h score`` file per
image) -> ``evaluate_predictions`` -> results dict; ``evaluate`` does all three for a result folder and
``average_precision`` for in-memory detections. The protocol follows the official
MATLAB tool: scores normalised over the whole set, boxes of an image matched in descending score order to their
highest-IoU face (IoU >= 0.5, inclusive "+1" pixels), faces outside a setting's ``gt_list`` make their matches
ignored, a face is recalled once, 1000 score thresholds, VOC all-point AP. Pure numpy + one Cython kernel.
"""
import logging
import os

import numpy as np
from tqdm import tqdm

from lib.common.errors import UserError
from lib.common.io import atomic_path
from lib.common.kernels import build_command, load_kernel
from lib.evaluation.ground_truth import SETTINGS, load_ground_truth
from lib.evaluation.results import read_predictions, to_prediction

log = logging.getLogger(__name__)

IOU_THRESH = 0.5
THRESH_NUM = 1000
# t_k = 1 - (k + 1) / 1000, k = 0..999, computed exactly as the reference does (descending, ends at 0).
THRESHOLDS = 1 - (np.arange(THRESH_NUM) + 1) / THRESH_NUM


def overlap_kernel():
    """The compiled IoU function (lib/evaluation/box_overlaps.pyx); a UserError saying how to build it when missing."""
    kernel = load_kernel('lib.evaluation.box_overlaps')
    if kernel is None:
        raise UserError('the Cython box-overlap extension is not built for this Python; build it with: '
                        + build_command())
    return kernel.bbox_overlaps


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


def average_precision(detections, gt):
    """{'easy', 'medium', 'hard': AP} of in-memory ``detections`` ({(event, name): [K, 5] x1, y1, x2, y2, score});
    images of ``gt`` without an entry detect nothing. Equals writing result files and evaluating them."""
    overlap_kernel()
    predictions = [to_prediction(detections.get(image, np.zeros((0, 5)))) for image in gt.images]
    results = evaluate_predictions(predictions, gt, progress=False)
    return {setting: results[setting] for setting in SETTINGS}


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
