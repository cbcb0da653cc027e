"""The sampling error of an AP over a val set: the bootstrap over its images.

An AP measured on N images is itself a sample: another N images of the same kind would give another AP. Resampling
the images with replacement (each resample: N images drawn from the N, their ground truth and detections with them)
and recomputing the AP with the official protocol each time gives the spread that sampling alone causes; its
standard deviation is the standard error of the AP (Efron's bootstrap). The error falls like 1 / sqrt(N).
"""
import numpy as np

from lib.evaluation.ground_truth import SETTINGS, GroundTruth
from lib.evaluation.protocol import evaluate_predictions, overlap_kernel
from lib.evaluation.results import to_prediction


def resampled(gt, predictions, indices):
    """(GroundTruth, predictions) of the images at ``indices`` (repeats allowed), in that order."""
    sample = GroundTruth([gt.images[i] for i in indices], [gt.boxes[i] for i in indices],
                         {setting: [masks[i] for i in indices] for setting, masks in gt.counted.items()})
    return sample, [predictions[i] for i in indices]


def bootstrap_errors(detections, gt, samples=100, seed=0):
    """{'easy', 'medium', 'hard': bootstrap standard error of the AP} of in-memory ``detections`` ({(event, name):
    [K, 5] x1, y1, x2, y2, score}, as lib.evaluation.protocol.average_precision takes) over the images of ``gt``:
    the standard deviation (ddof 1) of the AP over ``samples`` resamplings of the images (seeded)."""
    overlap_kernel()
    predictions = [to_prediction(detections.get(image, np.zeros((0, 5)))) for image in gt.images]
    rng = np.random.RandomState(seed)
    count = len(gt.images)
    values = []
    for _ in range(samples):
        sample, chosen = resampled(gt, predictions, rng.randint(0, count, count))
        results = evaluate_predictions(chosen, sample, progress=False)
        values.append([results[setting] for setting in SETTINGS])
    errors = np.std(np.asarray(values), axis=0, ddof=1)
    return dict((setting, float(error)) for setting, error in zip(SETTINGS, errors))
