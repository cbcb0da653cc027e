"""The bootstrap error of AP over val images (lib.evaluation.bootstrap): zero when every image is scored alike,
resamples carry each image's ground truth and detections together, and the error falls like 1 / sqrt(images)."""
import numpy as np

from lib.evaluation.bootstrap import bootstrap_errors, resampled
from lib.evaluation.ground_truth import SETTINGS, GroundTruth
from lib.evaluation.protocol import average_precision


def _set(count, hit):
    """``count`` images with one face each (x y w h 10 10 20 20); ``hit(i)``: image i's detection is on the face
    (score 0.9), else beside it (score 0.95: a false positive ranked first)."""
    images = [('0--e', 'img_%d' % i) for i in range(count)]
    gt = GroundTruth(images, [np.array([[10., 10., 20., 20.]]) for _ in images],
                     dict((setting, [np.array([True]) for _ in images]) for setting in SETTINGS))
    detections = dict((image, np.array([[10., 10., 30., 30., 0.9]]) if hit(i) else
                       np.array([[60., 60., 80., 80., 0.95]])) for i, image in enumerate(images))
    return gt, detections


def test_every_image_alike_has_no_sampling_error():
    gt, detections = _set(20, lambda i: True)
    assert average_precision(detections, gt)['hard'] == 1.
    assert bootstrap_errors(detections, gt, samples=20) == dict.fromkeys(SETTINGS, 0.)


def test_a_resample_keeps_each_image_with_its_ground_truth():
    gt, _ = _set(3, lambda i: True)
    sample, predictions = resampled(gt, ['p0', 'p1', 'p2'], [2, 0, 2])
    assert sample.images == [gt.images[2], gt.images[0], gt.images[2]]
    assert predictions == ['p2', 'p0', 'p2']
    assert [m.tolist() for m in sample.counted['hard']] == [[True]] * 3


def test_the_error_falls_like_one_over_the_square_root_of_the_images():
    errors = {}
    for count in (40, 160):
        gt, detections = _set(count, lambda i: i % 2 == 0)
        errors[count] = bootstrap_errors(detections, gt, samples=200)
    small, large = errors[40], errors[160]
    assert small['hard'] > 0.03
    assert 1.6 < small['hard'] / large['hard'] < 2.5  # sqrt(160 / 40) = 2
