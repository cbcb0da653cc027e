"""Easy / medium / hard AP of in-memory detections on the first N images of a WIDER-layout val set.

Used to score many variants of a model (`mac.py --sensitivity_wider`): the images are decoded once, each
variant's detections are scored in memory with the official protocol (no result files). The ground truth is
restricted to the images run, since the protocol counts the faces of images without results as missed, which
would drag every AP down alike.
"""
import os

from lib.common.errors import UserError
from lib.common.image import MAX_IMAGE_PIXELS, read_image
from lib.evaluation.ground_truth import load_ground_truth, restrict_ground_truth, val_images
from lib.evaluation.protocol import average_precision, overlap_kernel

GT_SUBDIR = os.path.join('eval_tools', 'ground_truth')
VAL_SUBDIR = 'WIDER_val'


class ValSubset(object):
    """The first ``count`` images of a WIDER root (wider_face_val.mat order), decoded, with their ground truth;
    ``average_precision(detect_batch)`` scores ``detect_batch(images, score_threshold, input_size)`` on them
    at ``input_size`` (letterboxed, as FaceDetector does)."""

    def __init__(self, root, count, input_size, batch_size=4, max_image_pixels=MAX_IMAGE_PIXELS):
        gt_dir = os.path.join(root, GT_SUBDIR)
        gt_mat = os.path.join(gt_dir, 'wider_face_val.mat')
        if not os.path.isfile(gt_mat):
            raise UserError('WIDER val set %s: %s not found; expected a WIDER root holding %s/images/<event>/ and '
                            '%s/*.mat (the layout tools/make_synthetic_wider.py writes)'
                            % (root, gt_mat, VAL_SUBDIR, GT_SUBDIR))
        overlap_kernel()  # fail now, not after the first variant, when the extension is not built
        self.images = val_images(gt_mat)[:count]
        self.pixels = [_read(os.path.join(root, VAL_SUBDIR, 'images', event, name + '.jpg'), max_image_pixels)
                       for event, name in self.images]
        self.gt = restrict_ground_truth(load_ground_truth(gt_dir), self.images)
        self.input_size = tuple(input_size)
        self.batch_size = batch_size

    def detections(self, detect_batch):
        """{(event, name): detections [K, 5]} of ``detect_batch`` on every image, in batches."""
        found = {}
        for start in range(0, len(self.images), self.batch_size):
            batch = detect_batch(self.pixels[start:start + self.batch_size], 0., self.input_size)
            found.update(zip(self.images[start:start + self.batch_size], batch))
        return found

    def average_precision(self, detect_batch):
        """{'easy', 'medium', 'hard': AP} of ``detect_batch`` on the images."""
        return average_precision(self.detections(detect_batch), self.gt)


def _read(path, max_image_pixels):
    image = read_image(path, max_image_pixels)
    if image is None:
        raise UserError('cannot read WIDER val image %s (missing, not an image, or above --max_image_pixels %d)'
                        % (path, max_image_pixels))
    return image
