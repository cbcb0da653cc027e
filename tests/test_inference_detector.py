"""FaceDetector on a hand-built frozen graph with known outputs: pixel mapping, sorting, padding, batches."""
import numpy as np
import pytest

from export_graphs import fake_detector_pb
from lib.inference.detector import FaceDetector
from lib.common.errors import UserError

FIXED = [(4, 8, 20, 24, 0.3), (40, 2, 60, 30, 0.9)]  # x1, y1, x2, y2, score in network-input pixels


def image_with_square(height, width, x1, y1, x2, y2):
    image = np.full((height, width, 3), 40, np.uint8)
    image[y1:y2, x1:x2] = 255
    return image


@pytest.fixture(scope='module')
def detector(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('fake') / 'fake.pb')
    with FaceDetector(fake_detector_pb(path, fixed=FIXED), threads=1) as det:
        yield det


def test_non_square_image_gives_boxes_in_original_pixels_sorted_by_score(detector):
    image = image_with_square(300, 500, 310, 120, 370, 200)
    dets = detector.detect(image, score_threshold=0.25)
    assert dets.dtype == np.float32 and dets.shape == (3, 5)
    np.testing.assert_allclose(dets[:, 4], [0.9, 0.6, 0.3], atol=1e-6)
    np.testing.assert_allclose(dets[0, :4], [40, 2, 60, 30], atol=1e-3)
    np.testing.assert_allclose(dets[1, :4], [310, 120, 370, 200], atol=1e-3)
    np.testing.assert_allclose(dets[2, :4], [4, 8, 20, 24], atol=1e-3)


def test_score_threshold_and_count_drop_boxes(detector):
    dark = np.full((64, 96, 3), 10, np.uint8)
    dets = detector.detect(dark, score_threshold=0.5)
    # The 0.3 box is under the threshold; the 0.99 junk box lies past num_detections.
    np.testing.assert_allclose(dets, [[40, 2, 60, 30, 0.9]], atol=1e-3)


def test_requested_input_size_keeps_the_aspect_ratio(detector):
    image = image_with_square(300, 600, 300, 100, 420, 220)
    dets = detector.detect(image, score_threshold=0.5, input_size=(160, 160))
    # Fitted at scale 160/600: the square stays square in the network and maps back to the original pixels.
    bright = dets[np.isclose(dets[:, 4], 0.6)][0]
    np.testing.assert_allclose(bright[:4], [300, 100, 420, 220], atol=600 / 160. * 1.5)
    fixed = dets[np.isclose(dets[:, 4], 0.9)][0]
    np.testing.assert_allclose(fixed[:4], np.array([40, 2, 60, 30]) * 600 / 160., atol=1e-2)


def test_corners_are_ordered_and_boxes_outside_the_image_dropped(tmp_path):
    inverted = (60, 30, 40, 2, 0.8)        # x2 < x1 and y2 < y1, as NMS may return them
    in_padding = (110, 5, 120, 20, 0.95)   # beyond the 100-px-wide image, inside the 128-px batch
    with FaceDetector(fake_detector_pb(str(tmp_path / 'g.pb'), fixed=[inverted, in_padding])) as det:
        dets = det.detect(np.zeros((64, 100, 3), np.uint8), score_threshold=0.5)
    np.testing.assert_allclose(dets, [[40, 2, 60, 30, 0.8]], atol=1e-3)


def test_tiny_and_very_wide_images(detector):
    tiny = np.full((3, 5, 3), 255, np.uint8)
    dets = detector.detect(tiny, score_threshold=0.5)
    bright = dets[np.isclose(dets[:, 4], 0.6)]
    np.testing.assert_allclose(bright[:, :4], [[0, 0, 5, 3]], atol=1e-3)
    assert (dets[:, [0, 2]] <= 5).all() and (dets[:, [1, 3]] <= 3).all()  # clipped to the image
    wide = image_with_square(20, 3000, 2900, 5, 2990, 15)
    dets = detector.detect(wide, score_threshold=0.5)
    np.testing.assert_allclose(dets[np.isclose(dets[:, 4], 0.6)][0, :4], [2900, 5, 2990, 15], atol=1e-3)


def test_detect_batch_maps_each_image_to_its_own_pixels(detector):
    first = image_with_square(100, 70, 10, 10, 30, 50)
    second = image_with_square(50, 200, 150, 20, 190, 40)
    dark = np.zeros((40, 40, 3), np.uint8)
    results = detector.detect_batch([first, second, dark], score_threshold=0.5)
    assert [len(r) for r in results] == [2, 2, 0]  # the fixed box lies right of the 40-px dark image
    np.testing.assert_allclose(results[0][1, :4], [10, 10, 30, 50], atol=1e-3)
    np.testing.assert_allclose(results[1][1, :4], [150, 20, 190, 40], atol=1e-3)
    single = detector.detect(second, score_threshold=0.5)
    np.testing.assert_allclose(results[1], single, atol=1e-3)
    assert detector.detect_batch([]) == []


def test_bad_inputs(detector, tmp_path):
    with pytest.raises(UserError, match=r'\[H, W, 3\]'):
        detector.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(UserError, match='multiples of 32'):
        detector.detect(np.zeros((10, 10, 3), np.uint8), input_size=(100, 64))
    with pytest.raises(UserError, match='not found'):
        FaceDetector(str(tmp_path / 'missing.pb'))
    junk = tmp_path / 'junk.pb'
    junk.write_bytes(b'\x00not a graph' * 10)
    with pytest.raises(UserError, match='junk.pb'):
        FaceDetector(str(junk))


def test_dtypes_nan_and_range_are_one_line_errors(detector):
    for image, message in ((np.zeros((20, 20, 3), np.uint16), 'uint16'), (np.zeros((20, 20, 3), np.int32), 'int32'),
                           (np.full((20, 20, 3), np.nan, np.float32), 'NaN'),
                           (np.full((20, 20, 3), np.inf, np.float64), 'infinite'),
                           (np.full((20, 20, 3), 300., np.float32), '0..255'),
                           (np.full((20, 20, 3), -1., np.float32), '0..255')):
        with pytest.raises(UserError, match=message) as err:
            detector.detect(image)
        assert '\n' not in str(err.value)


def test_float_0_255_equals_uint8_and_0_1_warns_once_per_detector(tmp_path, caplog):
    image = image_with_square(120, 90, 10, 20, 50, 80)
    with FaceDetector(fake_detector_pb(str(tmp_path / 'g.pb'), fixed=FIXED)) as det:
        expected = det.detect(image, 0.25)
        np.testing.assert_allclose(det.detect(image.astype(np.float32), 0.25), expected)
        assert not [r for r in caplog.records if '0..1' in r.getMessage()]
        scaled = image.astype(np.float32) / 255.
        det.detect(scaled, 0.25)
        det.detect_batch([scaled, scaled], 0.25)
        assert len([r for r in caplog.records if 'scaled to 0..1' in r.getMessage()]) == 1
    with FaceDetector(str(tmp_path / 'g.pb')) as det:
        det.detect(scaled, 0.25)
    assert len([r for r in caplog.records if 'scaled to 0..1' in r.getMessage()]) == 2


def test_images_beyond_max_side_are_shrunk_with_a_warning(tmp_path, caplog):
    wide = image_with_square(200, 2000, 1500, 40, 1700, 160)
    with FaceDetector(fake_detector_pb(str(tmp_path / 'g.pb')), max_side=500) as det:
        dets = det.detect(wide, 0.5)
        assert [r for r in caplog.records if 'exceeds max_side=500' in r.getMessage()]
        assert det.detect_batch([np.zeros((10, 10, 3), np.uint8)], 0.5)[0].shape == (0, 5)
    # Run at 50x500 (scale 1/4): the square comes back in the original pixels, within the shrink's rounding.
    np.testing.assert_allclose(dets[0, :4], [1500, 40, 1700, 160], atol=4 * 1.5)
    with pytest.raises(UserError, match='max_side'):
        FaceDetector(str(tmp_path / 'g.pb'), max_side=0)


def test_score_filter_keeps_a_score_equal_to_the_threshold_on_a_non_square_batch():
    from lib.common.image import Letterbox
    from lib.inference.detector import to_pixel_boxes
    boxes = np.array([[.25, .5, .5, .75], [0., 0., .5, .25], [.5, .5, .75, .75]], np.float32)  # ymin xmin ymax xmax
    scores = np.array([.5, .3, .9], np.float32)
    # Batch 64 x 96, the image 128 x 192 at half scale; the third box is past num_detections (count 2).
    got = to_pixel_boxes(boxes, scores, 2, (64, 96), Letterbox(.5, .5), (128, 192), .5)
    np.testing.assert_array_equal(got, np.float32([[96, 32, 144, 64, .5]]))
