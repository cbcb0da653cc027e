"""tools/vis.py and lib.visualize: boxes drawn where the detector found them, images written by extension."""
import os
import subprocess
import sys

import cv2
import numpy as np

from export_graphs import ROOT, fake_detector_pb
from lib.data.image_boxes import ground_truth_boxes
from lib.inference.visualize import GT_COLOR, draw_detections, grid, write_rgb_image


def test_draw_detections_outlines_the_box_only():
    image = np.zeros((60, 80, 3), np.uint8)
    drawn = draw_detections(image, [[10, 20, 50, 40, 0.9]])
    assert not image.any()  # the input is untouched
    assert tuple(drawn[20, 30]) == (0, 255, 0) and tuple(drawn[40, 10]) == (0, 255, 0)
    assert not drawn[30, 30].any()  # inside the box stays clear


def test_write_rgb_image_keeps_rgb_order(tmp_path):
    image = np.zeros((8, 8, 3), np.uint8)
    image[..., 0] = 255  # red
    path = str(tmp_path / 'sub' / 'red.png')
    write_rgb_image(path, image)
    assert tuple(cv2.imread(path)[0, 0]) == (0, 0, 255)  # BGR on disk


def test_vis_cli_writes_annotated_images(tmp_path):
    pb = fake_detector_pb(str(tmp_path / 'fake.pb'))
    images = tmp_path / 'images' / 'event'
    images.mkdir(parents=True)
    picture = np.full((100, 120, 3), 20, np.uint8)
    picture[30:60, 40:90] = 250
    cv2.imwrite(str(images / 'a.jpg'), picture)
    (images / 'b.jpg').write_bytes(b'broken')
    out = tmp_path / 'out'
    run = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'vis.py'), '--model=%s' % pb,
                          '--images=%s' % (tmp_path / 'images'), '--out=%s' % out, '--score=0.5'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr
    assert '1 faces' in run.stdout and 'unreadable' in run.stdout
    drawn = cv2.imread(str(out / 'event' / 'a.jpg'))
    assert drawn.shape == (100, 120, 3)
    blue, green, red = drawn[60, 65].astype(int)  # the box's bottom edge, through JPEG
    assert green > 150 and blue < 100 and red < 100


def test_draw_detections_outlines_the_ground_truth_in_red():
    image = np.zeros((60, 80, 3), np.uint8)
    drawn = draw_detections(image, np.zeros((0, 5)), ground_truth=[[5, 6, 30, 50]])
    assert tuple(drawn[6, 15]) == GT_COLOR and tuple(drawn[50, 15]) == GT_COLOR and tuple(drawn[20, 5]) == GT_COLOR
    assert not drawn[20, 15].any() and not drawn[55, 40].any()


def test_grid_tiles_and_scales_down():
    red, blue = np.zeros((10, 20, 3), np.uint8), np.zeros((10, 20, 3), np.uint8)
    red[..., 0], blue[..., 2] = 255, 255
    tiled = grid([[red, blue], [blue, red]], max_width=20)
    assert tiled.shape == (10, 20, 3)
    assert tuple(tiled[1, 1]) == (255, 0, 0) and tuple(tiled[1, 18]) == (0, 0, 255)
    assert tuple(tiled[8, 1]) == (0, 0, 255) and tuple(tiled[8, 18]) == (255, 0, 0)


def test_ground_truth_boxes_from_a_sample_list_and_a_wider_root(tmp_path):
    root = tmp_path / 'WIDER'
    (root / 'wider_face_split').mkdir(parents=True)
    (root / 'WIDER_val' / 'images' / '0--a').mkdir(parents=True)
    (root / 'wider_face_split' / 'wider_face_val_bbx_gt.txt').write_text(
        u'0--a/x.jpg\n2\n10 20 30 40 0 0 0 0 0 0\n1 2 3 4 0 0 0 0 0 0\n0--a/y.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n')
    found = ground_truth_boxes(str(root))
    np.testing.assert_array_equal(found[os.path.realpath(str(root / 'WIDER_val' / 'images' / '0--a' / 'x.jpg'))],
                                  [[10, 20, 40, 60], [1, 2, 4, 6]])
    assert found[os.path.realpath(str(root / 'WIDER_val' / 'images' / '0--a' / 'y.jpg'))].shape == (0, 4)
    listed = tmp_path / 'val.txt'
    listed.write_text(u'%s| 1,2,3,4,1\n' % (tmp_path / 'z.jpg'))
    np.testing.assert_array_equal(ground_truth_boxes(str(listed))[os.path.realpath(str(tmp_path / 'z.jpg'))],
                                  [[1, 2, 3, 4]])


def test_vis_cli_draws_the_ground_truth_at_its_pixels(tmp_path):
    pb = fake_detector_pb(str(tmp_path / 'fake.pb'))
    images = tmp_path / 'images'
    images.mkdir()
    cv2.imwrite(str(images / 'a.png'), np.full((100, 120, 3), 20, np.uint8))
    sample_list = tmp_path / 'val.txt'
    sample_list.write_text(u'%s| 5,10,25,70,1\n' % (images / 'a.png'))
    out = tmp_path / 'out'
    run = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'vis.py'), '--model=%s' % pb,
                          '--images=%s' % images, '--out=%s' % out, '--gt=%s' % sample_list],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr
    assert '(1 in the ground truth)' in run.stdout
    drawn = cv2.imread(str(out / 'a.png'))  # BGR, lossless
    assert tuple(drawn[10, 15]) == (0, 0, 255) and tuple(drawn[40, 5]) == (0, 0, 255)  # top and left edges
    assert tuple(drawn[40, 15]) == (20, 20, 20)  # inside, untouched


def test_demo_picture_puts_standard_beside_pruned_over_the_ground_truth(tmp_path):
    import demo
    pb = fake_detector_pb(str(tmp_path / 'fake.pb'))
    picture = np.full((100, 200, 3), 20, np.uint8)
    picture[40:60, 100:150] = 250  # the fake detector's box
    cv2.imwrite(str(tmp_path / 'a.png'), picture)
    val = tmp_path / 'val.txt'
    val.write_text(u'%s| 10,10,50,90,1\n' % (tmp_path / 'missing.png')  # one face: not drawn
                   + u'%s| 10,10,50,90,1 160,10,190,30,1\n' % (tmp_path / 'a.png'))
    models = {'standard': pb, 'pruned': pb}
    path = demo.detections_picture(str(tmp_path / 'd.png'), models, str(val), (100, 200), 1, count=1)
    drawn = cv2.imread(path)
    assert drawn.shape == (100, 400, 3)  # one row (the image with two faces): standard | pruned
    for left in (0, 200):
        assert tuple(drawn[50, left + 10]) == (0, 0, 255)  # the ground truth's left edge, red
        assert tuple(drawn[60, left + 125]) == (0, 255, 0)  # the detection's bottom edge (y2 = 60), green
    half = cv2.imread(demo.detections_picture(str(tmp_path / 'h.png'), models, str(val), (50, 100), 1, count=1))
    assert half.shape == (50, 200, 3)  # each image letterboxed to half size, boxes mapped with it
    assert tuple(half[25, 5]) == (0, 0, 255) and tuple(half[30, 62]) == (0, 255, 0)
