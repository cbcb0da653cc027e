"""FDDB: the ROC on a case worked out by hand, the rasterised overlaps, the files, the synthetic FDDB set, and
tools/fddb.py + tools/fddb_eval.py end to end."""
import hashlib
import itertools
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from export_graphs import fake_detector_pb
from lib.common.errors import UserError
from lib.data.fddb import format_ellipse_list, list_folds, read_ellipse_list, read_fold_list
from lib.data.synthetic import render_scene
from lib.data.synthetic_fddb import make_synthetic_fddb
from lib.evaluation import fddb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ------------------------------------------------------------------------------------------------ by hand
# Ellipse (3, 2), angle 0 (FDDB: major 3, minor 2, angle 0), centre (cx, cy): OpenCV fills rows cy-2 and cy+2 at
# cx-2..cx+2 (5 px each) and rows cy-1..cy+1 at cx-3..cx+3 (7 px each): 5 + 21 + 5 = 31 px, inside a 7 x 5 box.
# Ellipse (2, 2), centre (cx, cy): rows cy-2, cy+2: cx (1 px each); cy-1, cy+1: cx-1..cx+1 (3 each); cy: cx-2..cx+2
# (5): 13 px. A rectangle x y w h covers x..x+w by y..y+h, both ends included: (w + 1) (h + 1) px.
WIDE, ROUND = (3., 2., 0.), (2., 2., 0.)
HAND_ELLIPSES = {
    'a': [WIDE + (10., 10.), ROUND + (30., 10.)],   # image a, 40 x 20: E1, E2
    'b': [WIDE + (10., 10.), ROUND + (4., 15.)],    # image b, 20 x 20: E3, E4 (never detected)
}
HAND_SIZES = {'a': (20, 40), 'b': (20, 20)}
HAND_DETECTIONS = {
    'a': [(7, 8, 6, 4, 0.9),     # d1: 7 x 5 = 35 px holding E1: overlap 31 / 35 = 0.885714
          (0, 0, 3, 3, 0.8),     # d2: touches nothing: a false positive
          (29, 9, 3, 1, 0.7),    # d3: x 29..32, y 9..10 (8 px) on E2: rows 9 (29..31: 3), 10 (29..32: 4) -> 7;
                                 #     overlap 7 / (13 + 8 - 7) = 0.5 exactly: continuous yes, discrete no (> 0.5)
          (7, 8, 7, 4, 0.6)],    # d4: 8 x 5 = 40 px holding E1: 31 / 40 = 0.775, but E1 is d1's (one-to-one)
    'b': [(7, 9, 6, 2, 0.5),     # d5: 7 x 3 = 21 px inside E3: 21 / 31 = 0.677419
          (-5, -5, 10, 10, 0.5)],  # d6: clipped to x, y 0..5: touches nothing (same score as d5: one threshold)
}
D1, D3, D4, D5 = 31. / 35, 0.5, 31. / 40, 21. / 31
# Per threshold (faces N = 4 throughout), discrete TP, continuous TP, FP:
#   t >= 0.9: d1                 -> 1, D1,                    0
#   t >= 0.8: + d2               -> 1, D1,                    1
#   t >= 0.7: + d3 (0.5, not >)  -> 1, D1 + D3,               2
#   t >= 0.6: + d4 (E1 taken)    -> 1, D1 + D3,               3
#   t >= 0.5: + d5 (E3), d6      -> 2, D1 + D3 + D5,          4
HAND_ROC = [  # (threshold, discrete TPR, continuous TPR, FP), ascending threshold as the official writes
    (0.5, 2 / 4., (D1 + D3 + D5) / 4, 4),   # 0.5, 0.515783
    (0.6, 1 / 4., (D1 + D3) / 4, 3),        # 0.25, 0.346429
    (0.7, 1 / 4., (D1 + D3) / 4, 2),
    (0.8, 1 / 4., D1 / 4, 1),               # 0.25, 0.221429
    (0.9, 1 / 4., D1 / 4, 0),
]
HAND_DISC_ROC = '0.5 4\n0.25 3\n0.25 2\n0.25 1\n0.25 0\n'
HAND_CONT_ROC = '0.515783 4\n0.346429 3\n0.346429 2\n0.221429 1\n0.221429 0\n'


def write_hand_set(folder):
    """The hand case as files: originalPics/<name>.jpg (black), FDDB-folds (one fold), detections/fold-01-out.txt."""
    names = sorted(HAND_ELLIPSES)
    for name in names:
        os.makedirs(os.path.join(folder, 'pics'), exist_ok=True)
        cv2.imwrite(os.path.join(folder, 'pics', name + '.jpg'), np.zeros(HAND_SIZES[name] + (3,), np.uint8))
    os.makedirs(os.path.join(folder, 'folds'))
    with open(os.path.join(folder, 'folds', 'FDDB-fold-01.txt'), 'w') as f:
        f.write(''.join(n + '\n' for n in names))
    with open(os.path.join(folder, 'folds', 'FDDB-fold-01-ellipseList.txt'), 'w') as f:
        f.write(format_ellipse_list([(n, HAND_ELLIPSES[n]) for n in names]))
    os.makedirs(os.path.join(folder, 'dets'))
    with open(os.path.join(folder, 'dets', 'fold-01-out.txt'), 'w') as f:
        for name in names:
            f.write('%s\n%d\n' % (name, len(HAND_DETECTIONS[name])))
            f.write(''.join('%g %g %g %g %g\n' % d for d in HAND_DETECTIONS[name]))
    return [os.path.join(folder, sub) for sub in ('pics', 'folds', 'dets')]


def test_overlaps_of_the_hand_case():
    a = fddb.overlaps(HAND_SIZES['a'], HAND_ELLIPSES['a'], np.array(HAND_DETECTIONS['a'])[:, :4])
    np.testing.assert_allclose(a, [[D1, 0, 0, D4], [0, 0, D3, 0]], atol=1e-12)
    b = fddb.overlaps(HAND_SIZES['b'], HAND_ELLIPSES['b'], np.array(HAND_DETECTIONS['b'])[:, :4])
    np.testing.assert_allclose(b, [[D5, 0], [0, 0]], atol=1e-12)


def test_roc_of_the_hand_case(tmp_path):
    pics, folds, dets = write_hand_set(str(tmp_path))
    points = fddb.evaluate_folds(list_folds(folds), pics, {'01': os.path.join(dets, 'fold-01-out.txt')})
    got = [(p.threshold, p.tp_disc / p.faces, p.tp_cont / p.faces, p.fp) for p in points]
    np.testing.assert_allclose(got, HAND_ROC, atol=1e-9)
    assert fddb.format_roc(points, continuous=False) == HAND_DISC_ROC
    assert fddb.format_roc(points, continuous=True) == HAND_CONT_ROC
    assert fddb.tpr_at(points, 3) == pytest.approx((0.25, (D1 + D3) / 4))
    assert fddb.tpr_at(points, 4) == pytest.approx((0.5, (D1 + D3 + D5) / 4))


def test_fddb_eval_prints_and_writes_the_hand_case(tmp_path):
    pics, folds, dets = write_hand_set(str(tmp_path))
    out = str(tmp_path / 'roc')
    result = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'fddb_eval.py'), '--pred', dets,
                             '--data_dir', pics, '--split_dir', folds, '--out', out, '--fp', '3'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'Discrete   TPR at 3 FP: 0.2500' in result.stdout
    assert 'Continuous TPR at 3 FP: 0.3464' in result.stdout
    assert open(os.path.join(out, 'DiscROC.txt')).read() == HAND_DISC_ROC
    assert open(os.path.join(out, 'ContROC.txt')).read() == HAND_CONT_ROC
    assert open(os.path.join(out, 'roc.png'), 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
    again = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'fddb_eval.py'), '--pred', dets,
                            '--data_dir', pics, '--split_dir', folds, '--out', pics],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert again.returncode == 2 and 'overlaps the input' in again.stderr and 'Traceback' not in again.stderr


def test_an_image_without_detections_adds_its_faces_and_a_last_point():
    counts = fddb.image_counts(np.array([[0.7]]), [0.3])
    points = fddb.roc([(1, counts), (2, np.zeros((0, 4)))])
    assert [(p.threshold, p.faces, p.tp_disc, p.fp) for p in points] == [(0.3, 3, 1., 0), (np.inf, 3, 0., 0)]


# ------------------------------------------------------------------------------------------------ rasters

def test_rectangles_and_ellipses_are_filled_as_opencv_draws_them():
    rng = np.random.RandomState(3)
    shape = (30, 40)
    rects = np.concatenate([rng.randint(-8, 45, (20, 2)), rng.randint(0, 20, (20, 2))], axis=1)
    for (x0, y0, x1, y1), (x, y, w, h) in zip(fddb.rectangle_spans(shape, rects), rects):
        drawn = np.zeros(shape, np.uint8)
        cv2.rectangle(drawn, (int(x), int(y)), (int(x + w), int(y + h)), 1, -1)
        assert max(0, x1 - x0 + 1) * max(0, y1 - y0 + 1) == drawn.sum()
    ellipse = (9.7, 5.2, 1.2, 20.4, 14.6)  # semi-axes truncated to 9, 5; centre rounded to (20, 15); 1.2 rad
    drawn = np.zeros(shape, np.uint8)
    cv2.ellipse(drawn, (20, 15), (9, 5), np.degrees(1.2), 0, 360, 1, -1)
    assert np.array_equal(fddb.ellipse_mask(shape, ellipse), drawn.astype(bool))


# ------------------------------------------------------------------------------------------------ files

def test_detection_files_round_trip_in_the_parents_format(tmp_path):
    text = fddb.format_detections('2002/08/11/big/img_591', [[10.7, 20.2, 30.9, 40.5, 0.98765], [0, 0, 5, 5, 0.1]])
    assert text == '2002/08/11/big/img_591\n2\n10 20 21 21 0.9877\n0 0 6 6 0.1000\n'
    path = str(tmp_path / 'fold-01-out.txt')
    with open(path, 'w') as f:
        f.write(text + 'img_2\n0\n')
    read = fddb.read_detections(path)
    assert list(read) == ['2002/08/11/big/img_591', 'img_2']
    np.testing.assert_allclose(read['2002/08/11/big/img_591'], [[10, 20, 21, 21, 0.9877], [0, 0, 6, 6, 0.1]])
    with open(path, 'w') as f:
        f.write('img\n2\n1 2 3 4 0.5\n')
    with pytest.raises(UserError, match=r'fold-01-out.txt:1: image img announces 2 detections'):
        fddb.read_detections(path)


def test_a_malformed_ellipse_line_names_its_file_and_line(tmp_path):
    path = str(tmp_path / 'FDDB-fold-01-ellipseList.txt')
    with open(path, 'w') as f:
        f.write('img_1\n1\n3 2 0 10 10 1\nimg_2\n1\n3 2 zero 10 10 1\n')
    with pytest.raises(UserError, match=r'ellipseList.txt:6: expected "major_axis_radius'):
        read_ellipse_list(path)


# ------------------------------------------------------------------------------------------------ synthetic set

def _digest(folder):
    digest = hashlib.sha256()
    for root, _, names in sorted(os.walk(folder)):
        for name in sorted(names):
            digest.update(name.encode())
            with open(os.path.join(root, name), 'rb') as f:
                digest.update(f.read())
    return digest.hexdigest()


SMALL = dict(min_side=128, max_side=128, min_face=24, max_face=80, max_faces=3)


def test_synthetic_fddb_layout_determinism_and_ellipses(tmp_path):
    first, second = str(tmp_path / 'a'), str(tmp_path / 'b')
    made = make_synthetic_fddb(first, 5, seed=4, folds=2, **SMALL)
    make_synthetic_fddb(second, 5, seed=4, folds=2, **SMALL)
    assert _digest(first) == _digest(second)
    folds = list_folds(os.path.join(first, 'FDDB-folds'))
    assert [f.number for f in folds] == ['01', '02'] == [number for number, _ in made]
    assert read_fold_list(folds[0].list_path) == ['2002/07/01/big/img_%d' % i for i in range(3)]
    ellipses = read_ellipse_list(folds[1].ellipse_path)
    assert list(ellipses) == ['2002/07/02/big/img_3', '2002/07/02/big/img_4']
    np.testing.assert_allclose(ellipses['2002/07/02/big/img_4'], dict(made[1][1])['2002/07/02/big/img_4'], atol=1e-6)
    # the ellipse as the evaluator fills it frames the face the WIDER box frames (same scene, same seed)
    for index in range(5):
        _, boxes, _, scene_ellipses = render_scene(np.random.RandomState([4, 2, index]), **SMALL)
        assert len(boxes) == len(scene_ellipses)
        for (x, y, w, h), ellipse in zip(boxes, scene_ellipses):
            ys, xs = np.nonzero(fddb.ellipse_mask((200, 200), ellipse))
            np.testing.assert_allclose([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], [x, y, x + w, y + h],
                                       atol=2.5)


# ------------------------------------------------------------------------------------------------ end to end

def brute_force_roc(image_dir, annotations, detections):
    """An independent reading of the official scoring: full-image masks, every one-to-one assignment tried."""
    thresholds = sorted(set(s for dets in detections.values() for s in dets[:, 4]))
    table = []
    for t in thresholds:
        tp_disc = tp_cont = fp = 0.
        for name, ellipses in annotations.items():
            height, width = cv2.imread(os.path.join(image_dir, name + '.jpg')).shape[:2]
            dets = detections[name][detections[name][:, 4] >= t]
            a_masks = [fddb.ellipse_mask((height, width), e) for e in ellipses]
            d_masks = []
            for x, y, w, h, _ in dets:
                m = np.zeros((height, width), np.uint8)
                cv2.rectangle(m, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), 1, -1)
                d_masks.append(m.astype(bool))
            iou = np.array([[(a & d).sum() / float((a | d).sum()) for d in d_masks] for a in a_masks])
            best = []
            small, large = (iou, len(dets)) if len(ellipses) <= len(dets) else (iou.T, len(ellipses))
            for perm in itertools.permutations(range(large), len(small)):
                pairs = [small[i, j] for i, j in enumerate(perm)]
                if sum(pairs) > sum(best) + 1e-12:
                    best = pairs
            matched = [p for p in best if p > 0]
            tp_disc += sum(p > 0.5 for p in matched)
            tp_cont += sum(matched)
            fp += len(dets) - sum(p > 0.5 for p in matched)
        faces = sum(len(e) for e in annotations.values())
        table.append((t, tp_disc / faces, tp_cont / faces, fp))
    return table


def _parse(path):
    lines = open(path).read().split('\n')
    out, index = {}, 0
    while index < len(lines) and lines[index]:
        count = int(lines[index + 1])
        out[lines[index]] = np.array([[float(v) for v in line.split()] for line in lines[index + 2:index + 2 + count]])
        index += 2 + count
    return out


def test_fddb_tools_end_to_end_on_a_synthetic_set(tmp_path):
    data = str(tmp_path / 'fddb')
    made = make_synthetic_fddb(data, 4, seed=11, folds=2, **SMALL)
    # A known detector: the box framing the first image's first face (x 23..45 on the 128 px wide image) and its
    # mirror (x 83..105), so the mirrored pass confirms both; a third box no pass confirms (voting drops it).
    name0, ellipses0 = made[0][1][0]
    ys, xs = np.nonzero(fddb.ellipse_mask((128, 128), ellipses0[0]))
    x1, y1, x2, y2 = float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())
    assert (x1, x2) == (23., 45.)
    pb = fake_detector_pb(str(tmp_path / 'fake.pb'), bright_score=0.,
                          fixed=[(x1, y1, x2, y2, 0.9), (128 - x2, y1, 128 - x1, y2, 0.8), (0, 0, 10, 10, 0.7)])
    result = str(tmp_path / 'result')
    command = [sys.executable, os.path.join(ROOT, 'tools', 'fddb.py'), '--model', pb, '--no_progress',
               '--data_dir', os.path.join(data, 'originalPics'), '--split_dir', os.path.join(data, 'FDDB-folds'),
               '--result', result, '--threads', '1']
    run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert run.returncode == 0, run.stderr
    detections = {}
    for number, images in made:
        written = _parse(os.path.join(result, 'fold-%s-out.txt' % number))
        assert list(written) == [name for name, _ in images]
        for name, dets in written.items():  # x y w h with w = x2 - x1 + 1, truncated to pixels, best first
            np.testing.assert_allclose(dets, [[x1, y1, x2 - x1 + 1, y2 - y1 + 1, 0.9],
                                              [128 - x2, y1, x2 - x1 + 1, y2 - y1 + 1, 0.8]], atol=1)
        detections.update(written)
    again = subprocess.run(command[:-6] + ['--data_dir', data, '--split_dir', os.path.join(data, 'FDDB-folds'),
                                           '--result', data], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=300)
    assert again.returncode == 2 and 'overlaps the input' in again.stderr
    evaluation = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'fddb_eval.py'), '--pred', result,
                                 '--data_dir', os.path.join(data, 'originalPics'),
                                 '--split_dir', os.path.join(data, 'FDDB-folds'), '--fp', '7'],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert evaluation.returncode == 0, evaluation.stderr
    annotations = dict(item for _, images in made for item in images)
    expected = brute_force_roc(os.path.join(data, 'originalPics'), annotations, detections)
    assert expected[-1][1] > 0  # the first face is found
    rows = [line.split() for line in open(result + '_roc/DiscROC.txt').read().splitlines()]
    np.testing.assert_allclose([[float(r[0]), int(r[1])] for r in rows], [(d, fp) for _, d, _, fp in expected],
                               atol=1e-6)
    rows = [line.split() for line in open(result + '_roc/ContROC.txt').read().splitlines()]
    np.testing.assert_allclose([[float(r[0]), int(r[1])] for r in rows], [(c, fp) for _, _, c, fp in expected],
                               atol=1e-6)
    disc, cont = max((d, c) for _, d, c, fp in expected if fp <= 7)
    assert 'Discrete   TPR at 7 FP: %.4f' % disc in evaluation.stdout
    assert 'Continuous TPR at 7 FP: %.4f' % cont in evaluation.stdout


def test_the_brute_force_reading_agrees_on_random_detections(tmp_path):
    data = str(tmp_path / 'fddb')
    made = make_synthetic_fddb(data, 3, seed=5, folds=1, **SMALL)
    rng = np.random.RandomState(0)
    annotations = dict(made[0][1])
    detections = {}
    for name, ellipses in annotations.items():
        rows = []
        for major, minor, _, cx, cy in ellipses:  # near-misses and near-hits around each face
            for _ in range(3):
                jitter = rng.normal(0, 0.3, 4) * minor
                rows.append((cx - minor + jitter[0], cy - major + jitter[1], 2 * minor + jitter[2],
                             2 * major + jitter[3], round(rng.uniform(), 1)))
        rows.append((rng.uniform(0, 100), rng.uniform(0, 60), 20, 24, round(rng.uniform(), 1)))
        detections[name] = np.round(np.array(rows), 0)
    with open(str(tmp_path / 'fold-01-out.txt'), 'w') as f:
        for name in annotations:
            f.write('%s\n%d\n' % (name, len(detections[name])))
            f.write(''.join('%g %g %g %g %g\n' % tuple(d) for d in detections[name]))
    folds = list_folds(os.path.join(data, 'FDDB-folds'))
    points = fddb.evaluate_folds(folds, os.path.join(data, 'originalPics'), {'01': str(tmp_path / 'fold-01-out.txt')})
    got = [(p.threshold, p.tp_disc / p.faces, p.tp_cont / p.faces, p.fp) for p in points]
    np.testing.assert_allclose(got, brute_force_roc(os.path.join(data, 'originalPics'), annotations, detections),
                               atol=1e-9)


def test_a_set_without_faces_writes_zero_rates_and_a_missing_image_is_named(tmp_path):
    points = fddb.roc([(0, fddb.image_counts(np.zeros((0, 2)), [0.4, 0.2]))])
    assert fddb.format_roc(points, continuous=False) == '0 0\n0 0\n'  # the official writes '0 0' when N is 0
    pics, folds, dets = write_hand_set(str(tmp_path))
    with open(os.path.join(dets, 'fold-01-out.txt'), 'w') as f:
        f.write('a\n0\n')
    with pytest.raises(UserError, match=r'fold-01-out.txt does not match .*: no detections for b'):
        fddb.evaluate_folds(list_folds(folds), pics, {'01': os.path.join(dets, 'fold-01-out.txt')})
    os.remove(os.path.join(pics, 'b.jpg'))
    with open(os.path.join(dets, 'fold-01-out.txt'), 'w') as f:
        f.write('a\n0\nb\n0\n')
    with pytest.raises(UserError, match=r'b.jpg is missing or not an image; --data_dir'):
        fddb.evaluate_folds(list_folds(folds), pics, {'01': os.path.join(dets, 'fold-01-out.txt')})
