"""WIDER FACE AP evaluator: hand-computed tiny cases, a loop oracle, the official ground truth, errors, the CLI.

Needs the Cython kernel built: cd tools/ap_eval && python setup.py build_ext --inplace (``make test`` does it).
"""
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.io

from conftest import zip_same
from lib.common.errors import UserError
from lib.evaluation import ground_truth, protocol
from lib.evaluation.box_overlaps import bbox_overlaps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = ('easy', 'medium', 'hard')


# ----------------------------------------------------------------------------------------------- helpers

def _cell(items):
    """A MATLAB cell column (n x 1 object array), as the official files store every list."""
    cell = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        cell[i, 0] = item
    return cell


def write_gt(gt_dir, events):
    """Write the four ground-truth .mat files in the official nesting.

    events: [(event, [(image, boxes [M, 4] x y w h, {setting: 1-based face indices})])]; a setting left out
    of an image's dict counts all of its faces.
    """
    common = {
        'event_list': _cell([event for event, _ in events]),
        'file_list': _cell([_cell([image for image, _, _ in images]) for _, images in events]),
        'face_bbx_list': _cell([_cell([np.asarray(boxes, dtype=np.int32).reshape(-1, 4) for _, boxes, _ in images])
                                for _, images in events]),
    }
    os.makedirs(str(gt_dir), exist_ok=True)
    scipy.io.savemat(os.path.join(str(gt_dir), 'wider_face_val.mat'), common)
    for setting in SETTINGS:
        gt_list = _cell([_cell([np.asarray(counted.get(setting, np.arange(1, len(boxes) + 1)),
                                           dtype=np.uint8).reshape(-1, 1) for _, boxes, counted in images])
                         for _, images in events])
        scipy.io.savemat(os.path.join(str(gt_dir), 'wider_%s_val.mat' % setting), dict(common, gt_list=gt_list))
    return str(gt_dir)


def format_file(name, rows, style='plain', count=None):
    """The text of one result file; style 'messy' adds tabs, trailing spaces, blank lines and CRLF."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    lines = ['%.17g %.17g %.17g %.17g %.17g' % tuple(row) for row in rows]
    if style == 'plain':
        return '%s.jpg\n%d\n' % (name, len(rows) if count is None else count) + ''.join(l + '\n' for l in lines)
    messy = ['  %s.jpg  ' % name, '%d \t' % len(rows)] + [l.replace(' ', ' \t ', 2) + '   \t' for l in lines]
    return '\r\n'.join(messy[:2] + [part for line in messy[2:] for part in (line, '')]) + '\r\n\r\n'


def write_predictions(pred_dir, images, predictions, style='plain'):
    """One result file per (event, image) with its rows."""
    for (event, name), rows in zip_same(images, predictions):
        os.makedirs(os.path.join(str(pred_dir), event), exist_ok=True)
        with open(os.path.join(str(pred_dir), event, name + '.txt'), 'w', newline='') as f:
            f.write(format_file(name, rows, style))
    return str(pred_dir)


def rows(*boxes_and_scores):
    """Prediction rows from (x, y, w, h, score) tuples."""
    return np.array(boxes_and_scores, dtype=np.float64).reshape(-1, 5)


# Two 100 x 100 faces far apart, and predictions named by what they hit.
FACES = [[0, 0, 99, 99], [300, 0, 99, 99]]
HIT_FACE1, HIT_FACE2, MISS = (0, 0, 99, 99), (300, 0, 99, 99), (600, 600, 50, 50)


def one_image_case(tmp_path, predictions, faces=FACES, counted=None):
    """Ground truth of one image (faces, per-setting counted indices) and its result file -> evaluate()."""
    gt_dir = write_gt(tmp_path / 'gt', [('0--Event', [('img_0', faces, counted or {})])])
    pred_dir = write_predictions(tmp_path / 'pred', [('0--Event', 'img_0')], [predictions])
    return protocol.evaluate(pred_dir, gt_dir, progress=False)


# ----------------------------------------------------------------------------------------------- kernel

def test_bbox_overlaps_uses_inclusive_pixels_and_zero_for_degenerate_boxes():
    boxes = np.array([[0, 0, 9, 9], [0, 0, -2, 9], [5, 5, 5, 5]], dtype=np.float64)
    query = np.array([[0, 0, 9, 9], [5, 0, 14, 9], [5, 5, 5, 5]], dtype=np.float64)
    iou = bbox_overlaps(boxes, query)
    # 10 x 10 boxes sharing a 5 x 10 strip: 50 / 150; a negative-width box overlaps nothing;
    # a 1-pixel box inside a 10 x 10 one: 1 / 100.
    np.testing.assert_allclose(iou, [[1, 1 / 3., 1 / 100.], [0, 0, 0], [1 / 100., 1 / 100., 1]], rtol=1e-12)


# ----------------------------------------------------------------------------------------------- tiny cases

def test_true_false_true_gives_five_sixths(tmp_path):
    # normalised scores 1, 0.5, 0: (p, r) = (1, .5) then (.5, .5) then (2/3, 1) -> AP = .5 * 1 + .5 * 2/3
    results = one_image_case(tmp_path, rows(HIT_FACE1 + (0.9,), MISS + (0.8,), HIT_FACE2 + (0.7,)))
    for setting in SETTINGS:
        assert results[setting] == pytest.approx(5 / 6.)
        assert results['curves'][setting]['recall'][-1] == pytest.approx(1.0)
        assert results['curves'][setting]['precision'][-1] == pytest.approx(2 / 3.)


def test_score_order_not_file_order_and_any_score_range(tmp_path):
    # the same detections as above, shuffled in the file and with scores far outside [0, 1]
    results = one_image_case(tmp_path, rows(HIT_FACE2 + (-30.,), HIT_FACE1 + (150.,), MISS + (60.,)))
    assert results['hard'] == pytest.approx(5 / 6.)


def test_uncounted_faces_make_their_detections_ignored(tmp_path):
    faces = FACES + [[600, 0, 99, 99]]
    counted = {'easy': [1], 'medium': [1, 3], 'hard': [1, 2, 3]}
    results = one_image_case(tmp_path, rows(HIT_FACE2 + (0.9,), HIT_FACE1 + (0.5,)), faces, counted)
    assert results['easy'] == pytest.approx(1.0)    # face 2 ignored, face 1 found: all counted faces, no FP
    assert results['medium'] == pytest.approx(0.5)  # face 3 missed
    assert results['hard'] == pytest.approx(2 / 3.)


def test_second_detection_of_a_face_by_score_is_a_false_positive(tmp_path):
    # file order is lowest score first; matched in score order, 0.9 recalls face 1 and 0.8 is the duplicate
    # (matching in file order would make 0.9 the false positive: AP 2/3)
    results = one_image_case(tmp_path, rows(HIT_FACE2 + (0.7,), HIT_FACE1 + (0.8,), HIT_FACE1 + (0.9,)))
    assert results['easy'] == pytest.approx(5 / 6.)


def test_detection_takes_its_best_face_even_when_that_one_is_already_recalled(tmp_path):
    faces = [[0, 0, 99, 99], [20, 0, 99, 99]]
    # shifted by 8 px: IoU 0.852 with face 1 (already recalled), 0.786 with face 2 -> a false positive
    results = one_image_case(tmp_path, rows((0, 0, 99, 99, 0.9), (8, 0, 99, 99, 0.5)), faces)
    assert results['easy'] == pytest.approx(0.5)


def test_iou_threshold_is_inclusive_half(tmp_path):
    # 100 x 100 face; a 100 x 50 box inside it has IoU exactly 5000 / 10000 = 0.5: a hit. One pixel less is not.
    faces = [[0, 0, 99, 99]]
    assert one_image_case(tmp_path / 'a', rows((0, 0, 99, 49, 1.)), faces)['easy'] == pytest.approx(1.0)
    assert one_image_case(tmp_path / 'b', rows((0, 0, 99, 48, 1.)), faces)['easy'] == pytest.approx(0.0)


def test_score_exactly_on_a_threshold_counts_there(tmp_path):
    # normalised scores 1, 0.5 (= t_499 exactly), 0 (= t_999)
    results = one_image_case(tmp_path, rows(HIT_FACE1 + (1.,), HIT_FACE2 + (0.5,), MISS + (0.,)))
    recall, precision = results['curves']['easy']['recall'], results['curves']['easy']['precision']
    assert protocol.THRESHOLDS[499] == 0.5 and protocol.THRESHOLDS[999] == 0.0
    assert (recall[498], recall[499]) == (0.5, 1.0)
    assert (precision[998], precision[999]) == (1.0, pytest.approx(2 / 3.))
    assert protocol.THRESHOLDS[0] == pytest.approx(0.999) and precision[0] == 1.0 and recall[0] == 0.5


def test_image_without_predictions_misses_its_faces_and_warns(tmp_path, caplog):
    gt_dir = write_gt(tmp_path / 'gt', [('0--A', [('a', FACES, {})]), ('1--B', [('b', FACES, {})])])
    pred_dir = write_predictions(tmp_path / 'pred', [('0--A', 'a')], [rows(HIT_FACE1 + (1.,), HIT_FACE2 + (0.,))])
    with caplog.at_level(logging.WARNING):
        results = protocol.evaluate(pred_dir, gt_dir, progress=False)
    assert results['hard'] == pytest.approx(0.5)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert 'no predictions for 1 of 2 images' in warnings[0] and '1 of 2 event folders missing' in warnings[0]


def test_detections_on_images_without_faces_are_skipped_like_the_official_tool(tmp_path):
    gt_dir = write_gt(tmp_path / 'gt', [('0--A', [('a', FACES, {}), ('empty', np.zeros((0, 4)), {})])])
    pred_dir = write_predictions(tmp_path / 'pred', [('0--A', 'a'), ('0--A', 'empty')],
                                 [rows(HIT_FACE1 + (0.5,), HIT_FACE2 + (0.,)), rows(MISS + (1.,))])
    assert protocol.evaluate(pred_dir, gt_dir, progress=False)['easy'] == pytest.approx(1.0)


def test_all_equal_scores_normalise_to_one_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        results = one_image_case(tmp_path, rows(HIT_FACE1 + (0.3,), MISS + (0.3,), HIT_FACE2 + (0.3,)))
    assert results['easy'] == pytest.approx(2 / 3.)  # the reference would report 0
    assert any('all 3 predicted scores equal' in r.getMessage() for r in caplog.records)


def test_scores_normalise_over_the_whole_set_to_zero_one():
    # Scores 0.9..1 over two images (and one without boxes): (s - 0.9) / 0.1, worked out by hand.
    predictions = [np.array([[0, 0, 1, 1, .95], [0, 0, 1, 1, .9]]), np.zeros((0, 5)), np.array([[0, 0, 1, 1, 1.]])]
    got = protocol.normalize_scores(predictions)
    assert len(got) == len(predictions)
    np.testing.assert_allclose(got[0], [.5, 0.], atol=1e-12)
    assert got[1].shape == (0,)
    np.testing.assert_allclose(got[2], [1.], atol=1e-12)


def test_count_line_disagreeing_with_boxes_warns_and_trusts_boxes(tmp_path, caplog):
    gt_dir = write_gt(tmp_path / 'gt', [('0--A', [('a', FACES, {})])])
    os.makedirs(str(tmp_path / 'pred' / '0--A'))
    (tmp_path / 'pred' / '0--A' / 'a.txt').write_text(format_file('a', rows(HIT_FACE1 + (1.,), HIT_FACE2 + (0.,)),
                                                                  count=7))
    (tmp_path / 'pred' / '0--A' / 'unrelated.txt').write_text('not a result file')
    os.makedirs(str(tmp_path / 'pred' / 'extra_folder'))
    with caplog.at_level(logging.WARNING):
        assert protocol.evaluate(str(tmp_path / 'pred'), gt_dir, progress=False)['easy'] == pytest.approx(1.0)
    assert any('says 7, has 2' in r.getMessage() for r in caplog.records)


def test_squeezed_one_element_cells_load(tmp_path):
    # an event with a single image and an image with a single face, stored without their 1-element cells
    gt = {'event_list': _cell(['0--Solo']), 'file_list': _cell(['only']),
          'face_bbx_list': _cell([np.array([0, 0, 99, 99])])}
    scipy.io.savemat(str(tmp_path / 'wider_face_val.mat'), gt)
    for setting in SETTINGS:
        scipy.io.savemat(str(tmp_path / ('wider_%s_val.mat' % setting)), dict(gt, gt_list=_cell([1.0])))
    loaded = ground_truth.load_ground_truth(str(tmp_path))
    assert loaded.images == [('0--Solo', 'only')]
    np.testing.assert_array_equal(loaded.boxes[0], [[0, 0, 99, 99]])
    assert loaded.counted['hard'][0].tolist() == [True]


# ----------------------------------------------------------------------------------------------- loop oracle

def oracle_ap(predictions, gt, setting):
    """The protocol written as plain loops, straight from its description, to check the vectorised code."""
    scores = np.concatenate([p[:, 4] for p in predictions])
    low, high = scores.min(), scores.max()
    curve = np.zeros((1000, 2))
    total = 0
    for pred, boxes, counted in zip_same(predictions, gt.boxes, gt.counted[setting]):
        total += counted.sum()
        if not len(pred) or not len(boxes):
            continue
        pred = pred[np.argsort(-pred[:, 4], kind='mergesort')]
        score = (pred[:, 4] - low) / (high - low)
        recalled, proposal, recall_after = np.zeros(len(boxes)), np.ones(len(pred)), np.zeros(len(pred))
        for h, (x, y, w, hh, _) in enumerate(pred):
            ious = []
            for gx, gy, gw, gh in boxes:
                iw = min(x + w, gx + gw) - max(x, gx) + 1
                ih = min(y + hh, gy + gh) - max(y, gy) + 1
                union = (w + 1) * (hh + 1) + (gw + 1) * (gh + 1) - iw * ih
                ious.append(iw * ih / union if iw > 0 and ih > 0 else 0.)
            best = int(np.argmax(ious))
            if ious[best] >= 0.5:
                if not counted[best]:
                    proposal[h] = 0
                elif not recalled[best]:
                    recalled[best] = 1
            recall_after[h] = recalled.sum()
        for k in range(1000):
            keep = np.flatnonzero(score >= 1 - (k + 1) / 1000.)
            if len(keep):
                curve[k] += [proposal[:keep[-1] + 1].sum(), recall_after[keep[-1]]]
    with np.errstate(invalid='ignore'):
        precision = curve[:, 1] / curve[:, 0]
    recall = curve[:, 1] / total
    precision = np.concatenate(([0.], np.nan_to_num(precision), [0.]))
    recall = np.concatenate(([0.], recall, [1.]))
    for i in range(len(precision) - 1, 0, -1):
        precision[i - 1] = max(precision[i - 1], precision[i])
    steps = np.where(recall[1:] != recall[:-1])[0]
    return np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1])


def test_vectorised_protocol_matches_loop_oracle(tmp_path):
    rng = np.random.RandomState(3)
    images = []
    for i in range(12):
        num_faces = rng.randint(0, 9)
        faces = np.hstack([rng.randint(0, 400, (num_faces, 2)), rng.randint(8, 80, (num_faces, 2))])
        counted = {s: np.flatnonzero(rng.rand(len(faces)) < p) + 1 for s, p in zip_same(SETTINGS, (0.3, 0.6, 0.9))}
        images.append(('img_%d' % i, faces, counted))
    gt = ground_truth.load_ground_truth(write_gt(tmp_path, [('0--A', images[:7]), ('1--B', images[7:])]))
    predictions = []
    for _, faces, _ in images:
        found = faces[rng.rand(len(faces)) < 0.7]
        jitter = found + rng.randint(-6, 7, found.shape)
        num_noise = rng.randint(0, 15)
        noise = np.hstack([rng.randint(0, 400, (num_noise, 2)), rng.randint(8, 80, (num_noise, 2))])
        boxes = np.vstack([found, jitter, noise]).astype(np.float64)
        predictions.append(np.hstack([boxes, rng.rand(len(boxes), 1)]))
    results = protocol.evaluate_predictions(predictions, gt, progress=False)
    for setting in SETTINGS:
        assert 0.05 < results[setting] < 0.99
        assert results[setting] == pytest.approx(oracle_ap(predictions, gt, setting), abs=1e-12)


# ----------------------------------------------------------------------------------------------- official GT

_OFFICIAL_CACHE = {}


@pytest.fixture
def official(official_gt_dir):
    """(loaded official GT, GT boxes as predictions with distinct scores), loaded once per module."""
    if official_gt_dir not in _OFFICIAL_CACHE:
        gt = ground_truth.load_ground_truth(official_gt_dir)
        sizes = [len(boxes) for boxes in gt.boxes]
        scores = np.split(np.random.RandomState(0).permutation(sum(sizes)) + 1., np.cumsum(sizes)[:-1])
        preds = [np.hstack([boxes, score[:, None]]) for boxes, score in zip_same(gt.boxes, scores)]
        _OFFICIAL_CACHE[official_gt_dir] = gt, preds
    return _OFFICIAL_CACHE[official_gt_dir]


def test_official_gt_structure(official):
    gt, _ = official
    assert len(gt.images) == 3226 and sum(len(b) for b in gt.boxes) == 39708
    assert gt.images[0] == ('0--Parade', '0_Parade_marchingband_1_465')
    assert [int(sum(c.sum() for c in gt.counted[s])) for s in SETTINGS] == [7211, 13319, 31958]


def test_official_gt_saved_squeezed_loads_the_same(official, official_gt_dir, tmp_path):
    # a writer that squeezes 1-element cells (scalar indices, (4,) boxes, (1, n) rows) must load identically
    gt, _ = official
    for name in ('face', 'easy', 'medium', 'hard'):
        mat = scipy.io.loadmat(os.path.join(official_gt_dir, 'wider_%s_val.mat' % name), squeeze_me=True)
        scipy.io.savemat(str(tmp_path / ('wider_%s_val.mat' % name)),
                         {key: value for key, value in mat.items() if not key.startswith('__')})
    squeezed = ground_truth.load_ground_truth(str(tmp_path))
    assert squeezed.images == gt.images
    assert all(np.array_equal(a, b) for a, b in zip_same(squeezed.boxes, gt.boxes))
    for setting in SETTINGS:
        assert all(np.array_equal(a, b) for a, b in zip_same(squeezed.counted[setting], gt.counted[setting]))


def test_ground_truth_as_predictions_scores_almost_one(official, official_gt_dir, tmp_path):
    gt, preds = official
    results = protocol.evaluate(write_predictions(tmp_path, gt.images, preds), official_gt_dir, progress=False)
    for setting in SETTINGS:
        # a duplicated box and a negative-width box keep it just below 1
        assert 0.9999 < results[setting] < 1.0


def test_dropping_every_other_face_halves_recall(official):
    gt, preds = official
    sizes = [len(p) for p in preds]
    # every other face of the whole set (per image, [::2] would keep the many single-face images whole)
    keep = np.split(np.arange(sum(sizes)) % 2 == 0, np.cumsum(sizes)[:-1])
    results = protocol.evaluate_predictions([p[k] for p, k in zip_same(preds, keep)], gt, progress=False)
    for setting in SETTINGS:
        assert abs(results['curves'][setting]['recall'][-1] - 0.5) < 0.01


def test_shuffled_and_messy_files_give_identical_ap(official, official_gt_dir, tmp_path):
    gt, preds = official
    reference = protocol.evaluate_predictions(preds, gt, progress=False)
    rng = np.random.RandomState(1)
    shuffled = write_predictions(tmp_path / 'shuffled', gt.images, [p[rng.permutation(len(p))] for p in preds])
    messy = write_predictions(tmp_path / 'messy', gt.images, preds, style='messy')
    for pred_dir in (shuffled, messy):
        results = protocol.evaluate(pred_dir, official_gt_dir, progress=False)
        assert [results[s] for s in SETTINGS] == [reference[s] for s in SETTINGS]


# ----------------------------------------------------------------------------------------------- errors

def test_malformed_number_names_file_and_line(tmp_path):
    gt_dir = write_gt(tmp_path / 'gt', [('0--A', [('a', FACES, {})])])
    os.makedirs(str(tmp_path / 'pred' / '0--A'))
    path = tmp_path / 'pred' / '0--A' / 'a.txt'
    path.write_text('a.jpg\n2\n0 0 99 99 0.9\n\n300 0 99 x9 0.8\n')
    with pytest.raises(UserError, match=r'a\.txt:5: not a number'):
        protocol.evaluate(str(tmp_path / 'pred'), gt_dir, progress=False)
    path.write_text('a.jpg\n2\n0 0 99 99 0.9\n300 0 99 99\n')
    with pytest.raises(UserError, match=r'a\.txt:4: expected 5 numbers'):
        protocol.evaluate(str(tmp_path / 'pred'), gt_dir, progress=False)
    path.write_text('a.jpg\ntwo\n')
    with pytest.raises(UserError, match=r'a\.txt:2: expected the number of boxes'):
        protocol.evaluate(str(tmp_path / 'pred'), gt_dir, progress=False)


def test_missing_extension_says_how_to_build_it(tmp_path, monkeypatch):
    gt_dir = write_gt(tmp_path / 'gt', [('0--A', [('a', FACES, {})])])
    pred_dir = write_predictions(tmp_path / 'pred', [('0--A', 'a')], [rows(HIT_FACE1 + (1.,))])
    monkeypatch.setitem(sys.modules, 'lib.evaluation.box_overlaps', None)  # makes the import fail
    with pytest.raises(UserError, match=r'not built.*cd .*tools/ap_eval && .* setup\.py build_ext --inplace$'):
        protocol.evaluate(pred_dir, gt_dir, progress=False)


def test_missing_inputs_are_user_errors(tmp_path):
    gt_dir = write_gt(tmp_path / 'gt', [('0--A', [('a', FACES, {})])])
    with pytest.raises(UserError, match='ground truth file not found'):
        protocol.evaluate(str(tmp_path), str(tmp_path / 'nowhere'), progress=False)
    with pytest.raises(UserError, match='prediction folder not found'):
        protocol.evaluate(str(tmp_path / 'nowhere'), gt_dir, progress=False)
    os.makedirs(str(tmp_path / 'empty'))
    with pytest.raises(UserError, match='no prediction folders'):
        protocol.evaluate(str(tmp_path / 'empty'), gt_dir, progress=False)


# ----------------------------------------------------------------------------------------------- CLI

def test_cli_prints_the_exact_block_and_writes_json_and_plot(tmp_path):
    gt_dir = write_gt(tmp_path / 'gt', [('0--A', [('a', FACES, {'easy': [1]})])])
    pred_dir = write_predictions(tmp_path / 'pred', [('0--A', 'a')],
                                 [rows(HIT_FACE1 + (0.9,), MISS + (0.8,), HIT_FACE2 + (0.7,))])
    json_path, plot_path = str(tmp_path / 'out' / 'ap.json'), str(tmp_path / 'out' / 'pr.png')
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'ap_eval', 'evaluation.py'),
                           '--pred=' + pred_dir, '--gt=' + gt_dir, '--json=' + json_path, '--plot=' + plot_path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ('==================== Results ====================\n'
                           'Easy   Val AP: 1.0\n'
                           'Medium Val AP: 0.8333333333333333\n'
                           'Hard   Val AP: 0.8333333333333333\n'
                           '=================================================\n')
    with open(json_path) as f:
        saved = json.load(f)
    assert saved['medium'] == pytest.approx(5 / 6.) and len(saved['curves']['hard']['precision']) == 1000
    with open(plot_path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_cli_user_error_is_one_line_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'ap_eval', 'evaluation.py'),
                           '--pred', str(tmp_path), '--gt', str(tmp_path / 'missing')],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ''
    assert proc.stderr.startswith('error: ground truth file not found') and proc.stderr.count('\n') == 1


def _load_tool():
    """tools/ap_eval/evaluation.py as a module (its ground-truth search)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('_evaluation_tool',
                                                  os.path.join(ROOT, 'tools', 'ap_eval', 'evaluation.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_short_flags_as_the_original_types_them(tmp_path):
    gt_dir = write_gt(tmp_path / 'gt', [('0--A', [('a', FACES, {'easy': [1]})])])
    pred_dir = write_predictions(tmp_path / 'pred', [('0--A', 'a')], [rows(HIT_FACE1 + (0.9,))])
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'ap_eval', 'evaluation.py'),
                           '-p', pred_dir, '-g', gt_dir],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1] == 'Easy   Val AP: 1.0'


def test_ground_truth_search_order_and_error(tmp_path):
    tool = _load_tool()
    with pytest.raises(UserError, match='none found .*tools/ap_eval/ground_truth.*tools/ground_truth.*'
                                        'data/WIDER/eval_tools/ground_truth.*pass --gt'):
        tool.find_ground_truth(str(tmp_path))
    late = write_gt(tmp_path / 'data' / 'WIDER' / 'eval_tools' / 'ground_truth', [('0--A', [('a', FACES, {})])])
    assert tool.find_ground_truth(str(tmp_path)) == late
    original = write_gt(tmp_path / 'tools' / 'ground_truth', [('0--A', [('a', FACES, {})])])
    assert tool.find_ground_truth(str(tmp_path)) == original
    (tmp_path / 'tools' / 'ap_eval' / 'ground_truth').mkdir(parents=True)  # empty: skipped
    assert tool.find_ground_truth(str(tmp_path)) == original
