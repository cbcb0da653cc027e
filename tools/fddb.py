"""Run a frozen detector over FDDB and write its detection files (the parent project's model_eval/fddb.py flags).

    python tools/fddb.py --model=export/detector.pb --data_dir=FDDB/originalPics --split_dir=FDDB/FDDB-folds \
        --result=results/fddb

Writes RESULT/fold-XX-out.txt per fold of --split_dir: per image its name, the box count, then
`x y w h score` lines (rectangles, integer pixels), what FDDB's evaluation program and tools/fddb_eval.py read.
Protocol: the parent's (the image plus its mirror, merged by box voting, at most --max_boxes boxes).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.common.cli import main_entry, setup_logging, setup_tensorflow  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', default='./model/detector.pb',
                        help='detector written by tools/auto_freeze.py: .pb, .onnx, .xml or .tflite '
                             '(default: %(default)s)')
    parser.add_argument('--data_dir', required=True, help='FDDB image folder (originalPics) the fold lists name')
    parser.add_argument('--split_dir', required=True, help='FDDB-folds folder (FDDB-fold-XX.txt lists)')
    parser.add_argument('--result', required=True, help='output folder of fold-XX-out.txt files')
    parser.add_argument('--max_boxes', type=int, default=750, help='most boxes an image keeps (default: %(default)s)')
    parser.add_argument('--threads', type=int, default=None, help='TensorFlow threads (default: all cores)')
    parser.add_argument('--overwrite', action='store_true',
                        help='write into an existing non-empty --result folder this tool did not make')
    parser.add_argument('--no_progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


@main_entry
def main(argv=None):
    args = parse_args(argv)
    setup_logging()
    from lib.common.errors import UserError
    from lib.common.outputs import check_disjoint, claim_output_dir
    from lib.data.fddb import list_folds
    if args.max_boxes < 1:
        raise UserError('--max_boxes=%d: expected a count >= 1' % args.max_boxes)
    folds = list_folds(args.split_dir)
    check_disjoint({'--data_dir': args.data_dir, '--split_dir': args.split_dir, '--model': args.model},
                   {'--result': args.result})
    claim_output_dir(args.result, 'fddb', args.overwrite, '--result')
    setup_tensorflow()
    from lib.inference.detector import FaceDetector
    from lib.inference.fddb import run_fddb
    with FaceDetector(args.model, threads=args.threads) as detector:
        count, seconds = run_fddb(detector, folds, args.data_dir, args.result, args.max_boxes,
                                  progress=not args.no_progress)
    print('wrote %d fold files (%d images) to %s in %.1f s' % (len(folds), count, args.result, seconds))


if __name__ == '__main__':
    main()
