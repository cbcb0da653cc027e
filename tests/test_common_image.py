"""The one letterbox: boxes and pixels move together and map back exactly; padding is the pixel mean."""
import numpy as np
import pytest

from image_helpers import FILL, MEAN, greenness, scene
from lib.common import image as image_lib
from lib.common.errors import UserError


@pytest.mark.parametrize('shape, size', [((480, 640), (320, 320)), ((300, 200), (256, 384)),
                                         ((100, 1000), (640, 640)), ((50, 60), (640, 640))])
def test_letterbox_maps_boxes_and_back_exactly(shape, size):
    rng = np.random.RandomState(0)
    boxes = np.array([[10, 5, 40, 30], [0, 0, shape[1], shape[0]]], np.float32)
    out, mapped, lb = image_lib.letterbox(scene(shape[0], shape[1], boxes[:1], rng), size, MEAN, boxes)
    assert out.shape == size + (3,) and out.dtype == np.uint8
    np.testing.assert_allclose(lb.to_original(mapped), boxes, atol=1e-4)
    np.testing.assert_allclose(lb.to_original(lb.to_input(boxes)), boxes, atol=1e-4)
    full = mapped[1]  # the whole image maps to whole pixels at the top-left; the rest is pixel_mean
    assert full[0] == 0 and full[1] == 0 and full[2] == round(full[2]) and full[3] == round(full[3])
    assert max(full[2] / size[1], full[3] / size[0]) == pytest.approx(1.0, abs=1e-6)  # one side fills
    assert (out[int(full[3]):] == FILL).all() and (out[:, int(full[2]):] == FILL).all()
    assert greenness(out, mapped[0]) > 150 or min(mapped[0][2:] - mapped[0][:2]) < 4


def test_window_outside_the_image_is_pixel_mean():
    image = np.full((50, 50, 3), 7, np.uint8)
    out = image_lib.render_window(image, (-50, -50, 50, 50), (1.0, 1.0), (120, 110), MEAN)
    assert (out[:48, :48] == FILL).all() and (out[52:100, 52:100] == 7).all()
    assert (out[100:] == FILL).all() and (out[:, 100:] == FILL).all()


def test_strong_shrink_keeps_geometry():
    rng = np.random.RandomState(5)
    image = scene(2000, 1600, [[400, 800, 800, 1200]], rng)
    out, mapped, lb = image_lib.letterbox(image, (200, 200), MEAN, np.array([[400, 800, 800, 1200]], np.float32))
    np.testing.assert_allclose(mapped, [[40, 80, 80, 120]], atol=0.1)
    assert greenness(out, mapped[0]) > 150


def test_batch_pads_without_stretching_or_letterboxes_into_a_size():
    image = np.random.RandomState(0).randint(0, 255, (37, 301, 3)).astype(np.uint8)
    batch, boxes = image_lib.batch_images([image], (0, 0, 0))
    assert batch.shape == (1, 64, 320, 3) and boxes == [(1., 1.)]
    np.testing.assert_array_equal(batch[0, :37, :301], image)
    assert not batch[0, 37:].any() and not batch[0, :, 301:].any()
    batch, boxes = image_lib.batch_images([image, image[:, :100]], MEAN, input_size=(64, 640))
    assert batch.shape == (2, 64, 640, 3)
    # height-bound, aspect kept to the pixel: 301 px wide -> 521 px, 100 px -> 173 px
    assert (boxes[0].scale_y, boxes[0].scale_x) == (pytest.approx(64 / 37.), pytest.approx(521 / 301.))
    assert (boxes[1].scale_y, boxes[1].scale_x) == (pytest.approx(64 / 37.), pytest.approx(173 / 100.))
    assert (batch[0, :, 521:] == FILL).all() and (batch[1, :, 173:] == FILL).all()


@pytest.mark.parametrize('size, message', [((64, 65), 'width'), ((0, 64), 'height'), ('64', 'input_size')])
def test_input_size_check_names_the_bad_side(size, message):
    with pytest.raises(UserError, match=message):
        image_lib.check_input_size(size, sides=('height', 'width') if message != 'input_size' else None)


def test_letterbox_upscale_samples_between_pixel_centres():
    # A ramp 10 x + 100 y (4 x 6 px) doubled into 8 x 12: output pixel u samples the source at (u + 0.5) / 2 - 0.5
    # (pixel centres aligned), so inside the image the output is 10 ((u + .5) / 2 - .5) + 100 ((v + .5) / 2 - .5).
    ys, xs = np.mgrid[0:4, 0:6].astype(np.float32)
    image = np.repeat((10 * xs + 100 * ys)[:, :, None], 3, axis=2)
    out, _, lb = image_lib.letterbox(image, (8, 12), [0., 0., 0.])
    assert (lb.scale_x, lb.scale_y) == (2., 2.)
    v, u = np.mgrid[1:7, 1:11]
    expected = 10 * ((u + .5) / 2 - .5) + 100 * ((v + .5) / 2 - .5)
    np.testing.assert_allclose(out[1:7, 1:11, 0], expected, atol=1e-3)
