"""tools/vis.py and lib.visualize: boxes drawn where the detector found them, images written by extension."""
import os
import subprocess
import sys

import cv2
import numpy as np

from export_graphs import ROOT, fake_detector_pb
from lib.inference.visualize import draw_detections, write_rgb_image


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
