"""AP of sensitivity variants on the first N images of a WIDER-layout val set (`mac.py --sensitivity_wider`).

Each variant's detections go through the same path as tools/wider.py + tools/ap_eval: WIDER result files in a
temp folder, scored with the official protocol. The ground truth is restricted to the images run, since the
protocol counts the faces of images without results as missed, which would drag every AP down alike.
"""
import collections
import os
import shutil
import tempfile

from lib.helper.errors import UserError
from lib.data.loader import read_image
from lib.wider_inference import read_mat_list, write_result
from tools.ap_eval import wider_eval

GT_SUBDIR = os.path.join('eval_tools', 'ground_truth')
VAL_SUBDIR = 'WIDER_val'


class WiderApSet(object):
    """The first ``count`` images of a WIDER root (wider_face_val.mat order), decoded once, with their ground
    truth; ``average_precision`` scores a detector on them at ``input_size`` (letterboxed, as FaceDetector)."""

    def __init__(self, root, count, input_size, batch_size=4):
        gt_dir = os.path.join(root, GT_SUBDIR)
        gt_mat = os.path.join(gt_dir, 'wider_face_val.mat')
        if not os.path.isfile(gt_mat):
            raise UserError('WIDER val set %s: %s not found; expected a WIDER root holding %s/images/<event>/ and '
                            '%s/*.mat (the layout tools/make_synthetic_wider.py writes)'
                            % (root, gt_mat, VAL_SUBDIR, GT_SUBDIR))
        wider_eval.overlap_kernel()  # fail now, not after the first variant, when the extension is not built
        self.items = read_mat_list(gt_mat, os.path.join(root, VAL_SUBDIR))[:count]
        self.images = [_read(item.path) for item in self.items]
        self.gt = wider_eval.restrict_ground_truth(wider_eval.load_ground_truth(gt_dir),
                                                   [(item.event, item.name) for item in self.items])
        self.input_size = tuple(input_size)
        self.batch_size = batch_size

    def write_results(self, detect_batch, result_dir):
        """WIDER result files of ``detect_batch(images, score_threshold, input_size)`` for every image."""
        for start in range(0, len(self.items), self.batch_size):
            images = self.images[start:start + self.batch_size]
            for item, detections in zip(self.items[start:start + self.batch_size],
                                        detect_batch(images, 0., self.input_size)):
                write_result(result_dir, item, detections)

    def average_precision(self, detect_batch):
        """OrderedDict {'easy', 'medium', 'hard': AP} of ``detect_batch`` on the images."""
        result_dir = tempfile.mkdtemp(prefix='sensitivity_ap.')
        try:
            self.write_results(detect_batch, result_dir)
            predictions = wider_eval.read_predictions(result_dir, self.gt, progress=False)
        finally:
            shutil.rmtree(result_dir, ignore_errors=True)
        results = wider_eval.evaluate_predictions(predictions, self.gt, progress=False)
        return collections.OrderedDict((setting, results[setting]) for setting in wider_eval.SETTINGS)


def _read(path):
    image = read_image(path)
    if image is None:
        raise UserError('cannot read WIDER val image %s (missing or not an image)' % path)
    return image
