"""Augmentation keeps boxes and pixels together; flip is exact; anchor sampling uses the model's anchor sizes."""
import cv2
import numpy as np
import pytest

from lib.data import augment
from image_helpers import MEAN, greenness, scene

ANCHOR_SIZES = (16, 32, 64, 128, 256, 512)

def test_hflip_is_exact_and_an_involution():
    rng = np.random.RandomState(1)
    image = rng.randint(0, 256, (37, 53, 3)).astype(np.uint8)
    boxes = np.array([[0, 1, 10, 20], [40.5, 3, 53, 9]], np.float32)
    flipped, fboxes = augment.hflip(image, boxes)
    np.testing.assert_array_equal(flipped, image[:, ::-1])
    np.testing.assert_array_equal(fboxes, [[43, 1, 53, 20], [0, 3, 12.5, 9]])
    again, aboxes = augment.hflip(flipped, fboxes)
    np.testing.assert_array_equal(again, image)
    np.testing.assert_array_equal(aboxes, boxes)


def test_training_augmentation_keeps_boxes_on_their_faces():
    rng = np.random.RandomState(2)
    kept = 0
    for trial in range(60):
        height, width = rng.randint(200, 700), rng.randint(200, 700)
        boxes = []
        for _ in range(rng.randint(1, 4)):
            w = rng.randint(12, 120)
            x, y = rng.randint(0, width - w), rng.randint(0, height - w)
            boxes.append([x, y, x + w, y + w])
        image = scene(height, width, boxes, rng)
        out, out_boxes = augment.augment_train(image, boxes, (256, 256), rng, MEAN, ANCHOR_SIZES, colour=False)
        assert out.shape == (256, 256, 3) and out.dtype == np.uint8 and out_boxes.dtype == np.float32
        for box in out_boxes:
            assert (box >= 0).all() and box[2] <= 256 and box[3] <= 256
            if min(box[2:] - box[:2]) >= 6:
                assert greenness(out, box) > 150, (trial, box)
                kept += 1
            x1, y1, x2, y2 = box
            if len(boxes) == 1 and x1 >= 3 and y1 >= 3 and x2 <= 253 and y2 <= 253:  # tight: just outside is grey
                ring = np.concatenate([out[int(y1) - 3:int(y1) - 1, int(x1):int(x2)].reshape(-1, 3),
                                       out[int(y2) + 2:int(y2) + 3, int(x1):int(x2)].reshape(-1, 3),
                                       out[int(y1):int(y2), int(x1) - 3:int(x1) - 1].reshape(-1, 3),
                                       out[int(y1):int(y2), int(x2) + 2:int(x2) + 3].reshape(-1, 3)]).astype(float)
                assert (ring[:, 1] - ring[:, [0, 2]].mean(1)).mean() < 60, (trial, box)
    assert kept > 40


def test_anchor_sampling_rescales_the_face_to_an_anchor_scale():
    rng = np.random.RandomState(3)
    boxes = np.array([[300, 200, 340, 240]], np.float32)  # 40 px: nearest anchor 32
    sizes = []
    for _ in range(200):
        window = augment.anchor_sampling_window(boxes, (600, 800), (640, 640), ANCHOR_SIZES, rng)
        x0, y0, x1, y1 = window
        assert x0 <= 300 and x1 >= 340 and y0 <= 200 and y1 >= 240
        sizes.append(40 * 640 / (x1 - x0))
    assert 8 <= min(sizes) and max(sizes) <= 128  # anchors 16..64 (one above the nearest), x0.5..x2
    assert min(sizes) < 16 and max(sizes) > 64


def test_ssd_crop_honours_its_iou_constraint():
    rng = np.random.RandomState(4)
    boxes = np.array([[100, 100, 300, 300], [350, 50, 380, 80]], np.float32)
    crops = 0
    for _ in range(300):
        window = augment.ssd_crop_window(boxes, (400, 500), rng)
        if window == (0.0, 0.0, 500.0, 400.0):
            continue
        crops += 1
        w, h = window[2] - window[0], window[3] - window[1]
        assert 0.5 <= h / w <= 2.0
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        inside = (centres[:, 0] > window[0]) & (centres[:, 0] < window[2]) & \
                 (centres[:, 1] > window[1]) & (centres[:, 1] < window[3])
        assert inside.any()
    assert crops > 50


def test_faces_whose_centre_leaves_the_window_are_dropped_others_clipped():
    boxes = np.array([[0, 0, 20, 20], [90, 10, 130, 30], [50, 50, 60, 60]], np.float32)
    out = augment.window_boxes(boxes, (15, 0, 115, 100), (1.0, 1.0), (100, 100))
    np.testing.assert_array_equal(out, [[75, 10, 100, 30], [35, 50, 45, 60]])


def test_a_centre_on_the_windows_far_edge_is_outside_on_its_near_edge_inside():
    # Window 100 x 80 (non-square): centres x = 100 and y = 80 lie on the far edges (dropped), (0, 0) on the near.
    boxes = np.array([[90, 10, 110, 30], [10, 70, 30, 90], [-10, -10, 10, 10], [99, 79, 101, 81]], np.float32)
    out = augment.window_boxes(boxes, (0, 0, 100, 80), (1.0, 1.0), (100, 80))
    np.testing.assert_array_equal(out, [[0, 0, 10, 10]])


def test_colour_distortion_hue_wraps_and_saturation_clips():
    class Fixed(object):  # every jitter on, at chosen values
        def __init__(self, values):
            self.values = list(values)

        def rand(self):
            return 0.0

        def uniform(self, low, high):
            return self.values.pop(0)

    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 200
    out = augment.distort_colour(red, Fixed([1.0, 0.0, 1.0, -8]))  # hue -16 degrees from red: wraps to magenta
    hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
    assert (hsv[..., 0] == 172).all()
    assert out[0, 0, 2] > out[0, 0, 1]  # blue rises above green: towards magenta, not orange
    grey = np.full((2, 2, 3), 100, np.uint8)
    np.testing.assert_array_equal(augment.distort_colour(grey, Fixed([1.5, 20.0, 1.5, 0])), np.full((2, 2, 3), 170))


def test_anchor_sampling_uses_the_given_anchor_sizes():
    rng = np.random.RandomState(6)
    boxes = np.array([[300, 200, 340, 240]], np.float32)  # 40 px: nearest of (40, 80) is 40
    sizes = []
    for _ in range(200):
        x0, _, x1, _ = augment.anchor_sampling_window(boxes, (600, 800), (640, 640), (40, 80), rng)
        sizes.append(40 * 640 / (x1 - x0))
    assert 20 <= min(sizes) < 30 and 120 < max(sizes) <= 160  # anchors 40 or 80, x0.5..x2
