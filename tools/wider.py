"""Run a frozen detector over a WIDER-layout image set and write WIDER submission files.

    python tools/wider.py --model=export/detector.pb --data_dir=data/WIDER/WIDER_val --result=results/val

Writes RESULT/<event>/<name>.txt: the image name, the box count, then `x y w h score` lines, best first
(what tools/ap_eval/evaluation.py and the official WIDER tools read). Unreadable images are reported and
written with 0 detections. --protocol=original runs the original's test protocol instead (always multi-scale
under a 1 Mpx cap, no flip, its box voting, which drops boxes no other pass confirms).
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.common.cli import main_entry, setup_logging, setup_tensorflow  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', required=True, help='detector written by tools/auto_freeze.py: detector.pb, detector.onnx or detector_<kind>.tflite')
    parser.add_argument('--data_dir', required=True, help='WIDER-layout folder with images/<event>/<name>.jpg')
    parser.add_argument('--result', required=True, help='output folder of <event>/<name>.txt files')
    parser.add_argument('--list', default=None, dest='list_file',
                        help='run only the images of wider_face_val.mat or a val.txt (default: every image)')
    parser.add_argument('--protocol', choices=('default', 'original'), default='default',
                        help="'original': the original's tools/wider.py protocol (multi-scale, 1 Mpx cap, no flip, "
                             'single boxes dropped by its box voting); not combinable with --multi_scale, --flip, '
                             '--max_size')
    parser.add_argument('--multi_scale', action='store_true',
                        help='DSFD test protocol: add half-size and enlarged passes, merged by box voting')
    parser.add_argument('--flip', action='store_true', help='add a mirrored pass (box voting merges it)')
    parser.add_argument('--max_size', type=int, default=None,
                        help='pixel-count cap of any pass; larger images are shrunk (default 2040000 = 1700 x 1200)')
    parser.add_argument('--max_boxes', type=int, default=750,
                        help='most boxes an image keeps after box voting (default: %(default)s, the original\'s '
                             'TEST.max_detect)')
    parser.add_argument('--score', type=float, default=0.,
                        help='drop boxes under this score (the graph applies config.TEST.score_thres already)')
    parser.add_argument('--threads', type=int, default=None, help='TensorFlow threads (default: all cores)')
    parser.add_argument('--overwrite', action='store_true',
                        help='write into an existing non-empty --result folder this tool did not make')
    parser.add_argument('--skip_existing', action='store_true', help='keep result files already written (resume)')
    return parser.parse_args(argv)


@main_entry
def main(argv=None):
    args = parse_args(argv)
    setup_logging()
    setup_tensorflow()
    from lib.common.errors import UserError
    from lib.common.outputs import check_disjoint, claim_output_dir
    from lib.inference.detector import FaceDetector
    from lib.inference.wider import DEFAULT_MAX_PIXELS, list_images, run_wider
    original = args.protocol == 'original'
    if original and (args.multi_scale or args.flip or args.max_size is not None):
        raise UserError('--protocol=original fixes its own passes (multi-scale, no flip, 1 Mpx cap); drop '
                        '--multi_scale / --flip / --max_size, or use the default protocol')
    args.max_size = DEFAULT_MAX_PIXELS if args.max_size is None else args.max_size
    if args.max_size < 32 * 32:
        raise UserError('--max_size=%d: expected a pixel count >= 1024' % args.max_size)
    items = list_images(args.data_dir, args.list_file)
    inputs = {'--data_dir': args.data_dir, '--model': args.model}
    if args.list_file:
        inputs['--list'] = args.list_file
    check_disjoint(inputs, {'--result': args.result})
    claim_output_dir(args.result, 'wider', args.overwrite, '--result')
    with FaceDetector(args.model, threads=args.threads) as detector:
        summary = run_wider(detector, items, args.result, args.score, args.max_size, args.multi_scale, args.flip,
                            args.skip_existing, max_boxes=args.max_boxes, original=original)
    rate = summary.written / summary.seconds if summary.seconds > 0 else 0.
    print('wrote %d result files to %s in %.1f s (%.2f images/s)%s'
          % (summary.written, args.result, summary.seconds, rate,
             '; kept %d existing' % summary.skipped if summary.skipped else ''))
    if summary.unreadable:
        print('%d unreadable images written with 0 detections: %s%s'
              % (len(summary.unreadable), ', '.join(summary.unreadable[:5]),
                 ', ...' if len(summary.unreadable) > 5 else ''))


if __name__ == '__main__':
    main()
