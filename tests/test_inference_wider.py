"""tools/wider.py logic on a small WIDER-layout folder, with a hand-built graph that 'detects' bright squares."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import scipy.io

from export_graphs import ROOT, fake_detector_pb
from lib.inference.detector import FaceDetector
from lib.common.errors import UserError
from lib.evaluation.results import result_path
from lib.inference import wider as wi

SQUARE = (100, 50, 160, 110)  # x1, y1, x2, y2 of the one 'face'


def bgr_image(height, width, square=None):
    image = np.full((height, width, 3), 30, np.uint8)
    if square:
        x1, y1, x2, y2 = square
        image[y1:y2, x1:x2] = 250
    return image


@pytest.fixture(scope='module')
def detector(tmp_path_factory):
    pb = fake_detector_pb(str(tmp_path_factory.mktemp('model') / 'fake.pb'))
    with FaceDetector(pb, threads=1) as det:
        yield det


@pytest.fixture
def wider_dir(tmp_path):
    """images/0--Parade/{face,empty}.jpg, images/1--Handshaking/{face2.jpg, broken.jpg (not an image)}."""
    root = tmp_path / 'WIDER_val'
    for event in ('0--Parade', '1--Handshaking'):
        (root / 'images' / event).mkdir(parents=True)
    cv2.imwrite(str(root / 'images' / '0--Parade' / 'face.jpg'), bgr_image(200, 300, SQUARE))
    cv2.imwrite(str(root / 'images' / '0--Parade' / 'empty.jpg'), bgr_image(120, 90))
    cv2.imwrite(str(root / 'images' / '1--Handshaking' / 'face2.jpg'), bgr_image(64, 500, (400, 10, 440, 50)))
    (root / 'images' / '1--Handshaking' / 'broken.jpg').write_bytes(b'not a jpeg')
    return str(root)


def read_result(path):
    with open(path) as f:
        lines = f.read().splitlines()
    boxes = np.array([[float(v) for v in line.split()] for line in lines[2:]]).reshape(-1, 5)
    return lines[0], int(lines[1]), boxes


def test_run_writes_one_formatted_file_per_image(detector, wider_dir, tmp_path):
    result = str(tmp_path / 'result')
    items = wi.list_images(wider_dir)
    assert [(i.event, i.name) for i in items] == [('0--Parade', 'empty'), ('0--Parade', 'face'),
                                                  ('1--Handshaking', 'broken'), ('1--Handshaking', 'face2')]
    summary = wi.run_wider(detector, items, result, progress=False)
    assert summary.written == 4 and summary.skipped == 0
    assert summary.unreadable == [os.path.join(wider_dir, 'images', '1--Handshaking', 'broken.jpg')]
    name, count, boxes = read_result(os.path.join(result, '0--Parade', 'face.txt'))
    assert (name, count) == ('face', 1)
    np.testing.assert_allclose(boxes[0], [100, 50, 60, 60, 0.6], atol=1.01)  # x y w h score
    assert read_result(os.path.join(result, '0--Parade', 'empty.txt'))[:2] == ('empty', 0)
    assert read_result(os.path.join(result, '1--Handshaking', 'broken.txt'))[:2] == ('broken', 0)
    name, count, boxes = read_result(os.path.join(result, '1--Handshaking', 'face2.txt'))
    np.testing.assert_allclose(boxes, [[400, 10, 40, 40, 0.6]], atol=1.01)
    with open(os.path.join(result, '0--Parade', 'empty.txt')) as f:
        assert f.read() == 'empty\n0\n'


def test_single_scale_shrinks_under_the_pixel_cap(detector):
    image = cv2.cvtColor(bgr_image(200, 300, SQUARE), cv2.COLOR_BGR2RGB)
    dets = wi.detect_single_scale(detector, image, 0.5, max_pixels=150 * 100)  # scale 0.5
    np.testing.assert_allclose(dets[:, :4], [SQUARE], atol=2.01)


@pytest.mark.parametrize('square', [None, SQUARE])
def test_multi_scale_flip_on_no_face_and_one_face(detector, square):
    image = cv2.cvtColor(bgr_image(200, 300, square), cv2.COLOR_BGR2RGB)
    # The cap allows x2 enlargement: base, flipped, half and double passes all run.
    dets = wi.detect_multi_scale(detector, image, 0.5, max_pixels=4 * 200 * 300, multi_scale=True, flip=True)
    if square is None:
        assert dets.shape == (0, 5)
    else:
        assert dets.shape == (1, 5)
        np.testing.assert_allclose(dets[0, :4], SQUARE, atol=2.01)
        assert dets[0, 4] == pytest.approx(0.6)


def test_flipped_pass_maps_back_to_the_original_side(detector):
    image = cv2.cvtColor(bgr_image(64, 200, (10, 5, 40, 45)), cv2.COLOR_BGR2RGB)
    dets = wi.detect_scaled(detector, image, 1., 0.5, flip=True)
    np.testing.assert_allclose(dets[:, :4], [[10, 5, 40, 45]], atol=1e-3)


def test_box_vote_keeps_single_boxes_and_merges_overlaps():
    assert wi.box_vote(np.zeros((0, 5))).shape == (0, 5)
    one = np.array([[1, 2, 11, 12, 0.7]], np.float32)
    np.testing.assert_allclose(wi.box_vote(one), one)
    dets = np.array([[0, 0, 10, 10, 0.5], [50, 50, 60, 60, 0.4], [2, 0, 12, 10, 1.0]], np.float32)
    voted = wi.box_vote(dets)
    # The two overlapping boxes (IoU 0.67) merge into their score-weighted mean with the best score.
    np.testing.assert_allclose(voted, [[4 / 3., 0, 34 / 3., 10, 1.0], [50, 50, 60, 60, 0.4]], atol=1e-5)


def test_box_vote_groups_a_box_exactly_at_the_voting_iou():
    # The second box is 3/10 of the first: IoU exactly 0.3 joins the group (>=), in both pixel conventions.
    dets = np.array([[0, 0, 10, 10, 1.0], [0, 0, 10, 3, 0.5]], np.float32)
    np.testing.assert_allclose(wi.box_vote(dets), [[0, 0, 10, 23 / 3., 1.0]], atol=1e-5)
    inclusive = np.array([[0, 0, 9, 9, 1.0], [0, 0, 9, 2, 0.5]], np.float32)  # 10 x 10 and 10 x 3 pixels
    np.testing.assert_allclose(wi.box_vote(inclusive, keep_single=False, pixel=1.), [[0, 0, 9, 20 / 3., 1.0]],
                               atol=1e-5)


class AnswerDetector(object):
    """A fake detector answering ``answers[width of the image it is given]`` (boxes in that pass's pixels)."""

    def __init__(self, answers):
        self.answers = answers

    def detect(self, image, score_threshold=0.):
        return np.array(self.answers.get(image.shape[1], []), np.float32).reshape(-1, 5)

    detect_stretched = detect  # the original's passes call this one


def test_half_size_pass_keeps_a_tall_thin_face_by_its_longer_side():
    # Image 250 wide: the half pass (125 px wide) finds 10 x 20 px = 20 x 40 px in the image: longer side 40 > 30,
    # shorter side 20 (a filter on the shorter side would drop it).
    image = np.zeros((400, 250, 3), np.uint8)
    half = {125: [[5, 5, 15, 25, 0.6]]}
    dets = wi.detect_multi_scale(AnswerDetector(half), image, 0.05, max_pixels=4 * 400 * 250, flip=False)
    np.testing.assert_allclose(dets, [[10, 10, 30, 50, 0.6]], atol=1e-4)
    # The original's vote drops single boxes: the base pass sees the same face (inclusive sides 21 x 41 px).
    both = {250: [[10, 10, 30, 50, 0.9]], 125: [[5, 5, 15, 25, 0.6]]}
    dets = wi.detect_original(AnswerDetector(both), image, 0.05)
    np.testing.assert_allclose(dets, [[10, 10, 30, 50, 0.9]], atol=1e-4)


class ScaleDetector(object):
    """A fake detector whose boxes depend on the pass: keyed by the width of the image it is given (an image
    250 px wide: scale 1 -> 250, 0.5 -> 125, 2 -> 500, 3 -> 750); boxes in that pass's pixels."""
    ANSWERS = {
        250: [[10, 10, 50, 60, 0.9], [200, 300, 240, 340, 0.8], [104, 100, 204, 220, 0.5]],
        125: [[5, 5, 15, 18, 0.6], [50, 50, 100, 110, 0.7]],  # /0.5: [10,10,30,36], longer side + 1 = 27: dropped
        500: [[24, 20, 104, 120, 0.8], [200, 200, 400, 440, 0.95]],  # /2: shorter side + 1 = 101: dropped
        750: [[30, 30, 150, 180, 0.7]],
    }

    def __init__(self):
        self.widths = []

    def detect(self, image, score_threshold=0.):
        self.widths.append(image.shape[1])
        return np.array(self.ANSWERS[image.shape[1]], np.float32).reshape(-1, 5)

    detect_stretched = detect  # the original's passes call this one


def test_original_protocol_passes_filters_and_vote_by_hand():
    detector = ScaleDetector()
    image = np.zeros((400, 250, 3), np.uint8)  # 0.1 Mpx: largest scale min(3, sqrt(10)) = 3
    dets = wi.detect_original(detector, image, 0.05)
    assert detector.widths == [250, 125, 500, 750]  # base 1, shrunk 0.5, enlarged 2, then largest 3 (no flip)
    # Kept: base [10,10,50,60] .9, [200,300,240,340] .8 (alone: dropped by the vote), [104,100,204,220] .5;
    # shrunk [100,100,200,220] .7; x2 [12,10,52,60] .8; x3 [10,10,50,60] .7.
    face_a = [(10 * .9 + 12 * .8 + 10 * .7) / 2.4, 10, (50 * .9 + 52 * .8 + 50 * .7) / 2.4, 60, 0.9]
    face_b = [(100 * .7 + 104 * .5) / 1.2, 100, (200 * .7 + 204 * .5) / 1.2, 220, 0.7]
    np.testing.assert_allclose(dets, [face_a, face_b], atol=1e-3)
    default = wi.detect_multi_scale(ScaleDetector(), image, 0.05, max_pixels=9 * 400 * 250, flip=False)
    assert any(np.allclose(row[:4], [200, 300, 240, 340]) for row in default)  # the default keeps single boxes


def test_original_protocol_on_a_large_image_only_shrinks():
    detector = ScaleDetector()
    detector.ANSWERS = {500: [[0, 0, 20, 20, 0.9]], 250: [], 375: []}
    dets = wi.detect_original(detector, np.zeros((4000, 1000, 3), np.uint8), 0.05)  # largest 0.5
    # base 0.5, shrunk 0.5 x 0.5 (largest < 0.75), 'enlarged' (0.25 + 0.5) / 2 (largest <= 1); the base pass's
    # one box has no partner: the original's vote drops it and, like the original, answers one all-zero box.
    assert detector.widths == [500, 250, 375]
    np.testing.assert_array_equal(dets, np.zeros((1, 5)))


def test_skip_existing_keeps_written_files(detector, wider_dir, tmp_path):
    result = str(tmp_path / 'result')
    items = wi.list_images(wider_dir)
    kept = result_path(result, items[1].event, items[1].name)
    os.makedirs(os.path.dirname(kept))
    with open(kept, 'w') as f:
        f.write('face\n0\n')
    summary = wi.run_wider(detector, items, result, skip_existing=True, progress=False)
    assert (summary.written, summary.skipped) == (3, 1)
    assert read_result(kept)[1] == 0
    wi.run_wider(detector, items, result, progress=False)
    assert read_result(kept)[1] == 1


def test_skip_existing_redoes_results_of_unreadable_images(detector, wider_dir, tmp_path):
    """A result written with 0 detections for an unreadable image is redone once the image is fixed."""
    result = str(tmp_path / 'result')
    items = wi.list_images(wider_dir)
    broken = [item for item in items if item.name == 'broken'][0]
    wi.run_wider(detector, items, result, progress=False)
    assert read_result(result_path(result, broken.event, broken.name))[1] == 0
    cv2.imwrite(broken.path, bgr_image(200, 300, SQUARE))  # fixed (still named .jpg)
    summary = wi.run_wider(detector, items, result, skip_existing=True, progress=False)
    assert (summary.written, summary.skipped, summary.unreadable) == (1, 3, [])
    assert read_result(result_path(result, broken.event, broken.name))[1] == 1
    assert sorted(os.listdir(os.path.join(result, broken.event))) == ['broken.txt', 'face2.txt']


def test_image_lists_from_mat_and_txt(wider_dir, tmp_path):
    mat = str(tmp_path / 'wider_face_val.mat')
    events = np.empty((2, 1), object)
    events[0, 0], events[1, 0] = np.array(['0--Parade']), np.array(['1--Handshaking'])
    files = np.empty((2, 1), object)
    files[0, 0] = np.empty((1, 1), object)
    files[0, 0][0, 0] = np.array(['face'])
    files[1, 0] = np.empty((2, 1), object)
    files[1, 0][0, 0], files[1, 0][1, 0] = np.array(['face2']), np.array(['broken'])
    scipy.io.savemat(mat, {'event_list': events, 'file_list': files})
    items = wi.list_images(wider_dir, mat)
    assert [(i.event, i.name) for i in items] == [('0--Parade', 'face'), ('1--Handshaking', 'face2'),
                                                  ('1--Handshaking', 'broken')]
    assert items[1].path == os.path.join(wider_dir, 'images', '1--Handshaking', 'face2.jpg')
    txt = tmp_path / 'val.txt'
    txt.write_text('0--Parade/face.jpg| 100,50,160,110,1\n%s|\n'
                   % os.path.join(wider_dir, 'images', '1--Handshaking', 'face2.jpg'))
    items = wi.list_images(wider_dir, str(txt))
    assert [(i.event, i.name) for i in items] == [('0--Parade', 'face'), ('1--Handshaking', 'face2')]
    assert os.path.isfile(items[0].path)


def test_list_errors(tmp_path):
    with pytest.raises(UserError, match='no images/ folder'):
        wi.list_images(str(tmp_path))
    (tmp_path / 'images' / 'event').mkdir(parents=True)
    with pytest.raises(UserError, match='no images under'):
        wi.list_images(str(tmp_path))
    with pytest.raises(UserError, match='image list not found'):
        wi.list_images(str(tmp_path), str(tmp_path / 'missing.mat'))
    bad = tmp_path / 'bad.mat'
    bad.write_bytes(b'garbage')
    with pytest.raises(UserError, match='bad.mat'):
        wi.list_images(str(tmp_path), str(bad))


def run_wider_script(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'wider.py')] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, cwd=ROOT,
                          timeout=300)


def test_wider_cli(wider_dir, tmp_path):
    pb = fake_detector_pb(str(tmp_path / 'fake.pb'))
    result = tmp_path / 'result'
    run = run_wider_script('--model=%s' % pb, '--data_dir=%s' % wider_dir, '--result=%s' % result,
                           '--multi_scale', '--flip', '--threads=1')
    assert run.returncode == 0, run.stderr
    assert 'wrote 4 result files' in run.stdout and '1 unreadable' in run.stdout
    assert 'img/s' in run.stderr  # the tqdm bar
    assert sorted(os.listdir(str(result / '0--Parade'))) == ['empty.txt', 'face.txt']
    assert read_result(str(result / '0--Parade' / 'face.txt'))[1] == 1
    original = run_wider_script('--model=%s' % pb, '--data_dir=%s' % wider_dir, '--result=%s' % (tmp_path / 'orig'),
                                '--protocol=original', '--threads=1')
    assert original.returncode == 0, original.stderr
    # one square, found alike by every pass: the original's vote merges them into one box
    assert read_result(str(tmp_path / 'orig' / '0--Parade' / 'face.txt'))[1] == 1
    mixed = run_wider_script('--model=%s' % pb, '--data_dir=%s' % wider_dir, '--result=%s' % result,
                             '--protocol=original', '--flip')
    assert mixed.returncode == 2 and 'drop --multi_scale / --flip / --max_size' in mixed.stderr.splitlines()[-1]
    missing = run_wider_script('--model=%s' % (tmp_path / 'none.pb'), '--data_dir=%s' % wider_dir,
                               '--result=%s' % result)
    assert missing.returncode == 2 and 'model file not found' in missing.stderr.splitlines()[-1]
    empty = run_wider_script('--model=%s' % pb, '--data_dir=%s' % tmp_path, '--result=%s' % result)
    assert empty.returncode == 2 and 'no images/ folder' in empty.stderr.splitlines()[-1]


class ScaleMirrorDetector(object):
    """A fake detector that reports, in the pixels of the image it is fed, a 10 px box at (250, 10) and a 220 px box
    at (10, 40); its score tells the pass: 0.5 + 0.1 * log2(scale), + 0.05 when the image is mirrored (its bright
    left-edge stripe is on the right). Each pass therefore lands its boxes at its own place in the original image."""

    def __init__(self, width):
        self.width = width

    def detect(self, image, score_threshold):
        scale = image.shape[1] / float(self.width)
        mirrored = image[:, -1].mean() > image[:, 0].mean()
        score = 0.5 + 0.1 * np.log2(scale) + (0.05 if mirrored else 0.)
        assert score >= score_threshold
        return np.array([[250, 10, 260, 20, score], [10, 40, 230, 260, score]], np.float32)


def striped_image(height=400, width=600):
    image = np.full((height, width, 3), 30, np.uint8)
    image[:, :10] = 250
    return image


# Worked out by hand for a 600 x 400 image, in its pixels (x1, y1, x2, y2, score).
BASE = [[250, 10, 260, 20, 0.5], [10, 40, 230, 260, 0.5]]
MIRROR = [[340, 10, 350, 20, 0.55], [370, 40, 590, 260, 0.55]]    # x -> 600 - x, the sides swapped
HALF = [[20, 80, 460, 520, 0.4]]                                   # the 20 px box is dropped (longer side <= 30)
DOUBLE = [[125, 5, 130, 10, 0.6]]                                  # the 110 px box is dropped (shorter side >= 100)
TRIPLE = [[250 / 3., 10 / 3., 260 / 3., 20 / 3., 0.5 + 0.1 * np.log2(3.)],
          [10 / 3., 40 / 3., 230 / 3., 260 / 3., 0.5 + 0.1 * np.log2(3.)]]  # 73 px: small enough to keep


def sorted_rows(rows):
    rows = np.asarray(rows, np.float64).reshape(-1, 5)
    return rows[np.lexsort(rows.T[::-1])]


@pytest.mark.parametrize('multi_scale, flip, enlarge, expected', [
    (False, True, 2, BASE + MIRROR),
    (True, False, 2, BASE + HALF + DOUBLE),
    (True, True, 2, BASE + MIRROR + HALF + DOUBLE),
    (True, True, 3, BASE + MIRROR + HALF + DOUBLE + TRIPLE),   # enlarged passes x2, then x3 (the cap)
])
def test_every_pass_its_size_filter_and_the_mirror_mapping(multi_scale, flip, enlarge, expected):
    """No two expected boxes overlap by the voting IoU, so the voted result lists every kept box of every pass:
    a dropped pass loses rows, a dropped size filter adds one, a wrong mirror mapping moves or merges two."""
    image = striped_image()
    dets = wi.detect_multi_scale(ScaleMirrorDetector(600), image, 0.05, max_pixels=enlarge ** 2 * 600 * 400,
                                 multi_scale=multi_scale, flip=flip)
    np.testing.assert_allclose(sorted_rows(dets), sorted_rows(expected), atol=1e-3)


def test_shrunk_base_pass_maps_back_by_its_scale():
    """An image over the pixel cap runs at the scale that fits (0.5 here), and its boxes come back in its pixels."""
    dets = wi.detect_single_scale(ScaleMirrorDetector(600), striped_image(), 0.05, max_pixels=300 * 200)
    np.testing.assert_allclose(sorted_rows(dets), sorted_rows([[500, 20, 520, 40, 0.4], [20, 80, 460, 520, 0.4]]),
                               atol=1e-3)
