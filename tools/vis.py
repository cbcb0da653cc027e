"""Draw a frozen detector's boxes on images and write them to a folder (no display needed).

    python tools/vis.py --model=export/detector.pb --images=data/WIDER/WIDER_val/images/0--Parade --out=vis \
        [--gt=data/WIDER | --gt=data/val.txt]

Detections are green with their score; with --gt the ground-truth boxes are drawn under them in red.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.common.cli import add_max_image_pixels, main_entry, setup_tensorflow  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', required=True,
                        help='detector written by tools/auto_freeze.py: detector.pb, detector.onnx, '
                             'detector_int8.onnx, detector_<kind>.xml (OpenVINO, its .bin beside it) or detector_<kind>.tflite')
    parser.add_argument('--images', required=True, help='an image file, or a folder searched recursively')
    parser.add_argument('--out', required=True, help='folder receiving the annotated images')
    parser.add_argument('--gt', default=None,
                        help='also draw the ground truth (red): a WIDER root or a sample list such as data/val.txt')
    parser.add_argument('--score', type=float, default=0.5, help='draw boxes with at least this score')
    parser.add_argument('--threads', type=int, default=None, help='TensorFlow threads (default: all cores)')
    parser.add_argument('--overwrite', action='store_true',
                        help='write into an existing non-empty --out this tool did not make')
    parser.add_argument('--show', action='store_true', help='also show each image in a window (any key: next)')
    add_max_image_pixels(parser)
    return parser.parse_args(argv)


def image_paths(path):
    """The image itself, or every image under the folder ``path``."""
    from lib.common.errors import UserError
    from lib.common.image import IMAGE_EXTENSIONS, image_files
    if os.path.isfile(path):
        return [path]
    paths = image_files(path)
    if not paths:
        raise UserError('no images (%s) at %s' % (', '.join(IMAGE_EXTENSIONS), path))
    return paths


@main_entry(kept='the annotated images written so far stay in --out (none half-written); re-run the same '
            'command to write them all')
def main(argv=None):
    args = parse_args(argv)
    setup_tensorflow()
    import cv2
    from lib.common.errors import UserError
    from lib.common.image import read_image
    from lib.common.outputs import check_disjoint, claim_output_dir
    from lib.inference.detector import FaceDetector
    from lib.inference.visualize import draw_detections, write_rgb_image
    from lib.data.image_boxes import ground_truth_boxes
    paths = image_paths(args.images)
    inputs = {'--images': args.images, '--model': args.model}
    if args.gt:
        inputs['--gt'] = args.gt
    check_disjoint(inputs, {'--out': args.out})
    truth = ground_truth_boxes(args.gt) if args.gt else {}
    claim_output_dir(args.out, 'vis', args.overwrite)
    root = args.images if os.path.isdir(args.images) else os.path.dirname(args.images)
    with FaceDetector(args.model, threads=args.threads) as detector:
        for path in paths:
            image = read_image(path, args.max_image_pixels)
            if image is None:
                print('skipped (unreadable): %s' % path)
                continue
            detections = detector.detect(image, args.score)
            gt = truth.get(os.path.realpath(path))
            drawn = draw_detections(image, detections, gt)
            out_path = os.path.join(args.out, os.path.relpath(path, root))
            write_rgb_image(out_path, drawn)
            note = ''
            if args.gt:
                note = ' (no ground truth in --gt)' if gt is None else ' (%d in the ground truth)' % len(gt)
            print('%d faces%s: %s' % (len(detections), note, out_path))
            if args.show:
                try:
                    cv2.imshow('detections', cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
                    cv2.waitKey(0)
                except cv2.error:
                    raise UserError('--show needs a display and an OpenCV build with GUI support '
                                    '(opencv-python, not -headless); the images are in %s' % args.out)
    if args.show:
        cv2.destroyAllWindows()


if __name__ == '__main__':
    main()
