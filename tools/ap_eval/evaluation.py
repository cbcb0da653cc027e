"""WIDER FACE validation AP (easy / medium / hard) of a result folder, the official protocol.

    python tools/ap_eval/evaluation.py --pred=DIR (-p) [--gt=DIR (-g)] [--json=FILE] [--plot=FILE.png]

Without --gt the ground truth is looked for where the original kept it and where the WIDER download puts it.

Needs the Cython kernel once: cd tools/ap_eval && python setup.py build_ext --inplace
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from lib.common.cli import main_entry, setup_logging  # noqa: E402
from lib.common.errors import UserError  # noqa: E402
from lib.common.io import write_json  # noqa: E402
from lib.common.outputs import check_writable_file  # noqa: E402
from lib.evaluation import protocol  # noqa: E402

# Where --gt is looked for, relative to the repo root: beside this tool, beside tools/ (the original's place),
# and the WIDER download's evaluation code.
GT_SEARCH = (os.path.join('tools', 'ap_eval', 'ground_truth'), os.path.join('tools', 'ground_truth'),
             os.path.join('data', 'WIDER', 'eval_tools', 'ground_truth'))
GT_FILE = 'wider_face_val.mat'


def find_ground_truth(root=ROOT):
    """The first folder of GT_SEARCH under ``root`` that holds wider_face_val.mat; a UserError listing them all."""
    for folder in GT_SEARCH:
        path = os.path.join(root, folder)
        if os.path.isfile(os.path.join(path, GT_FILE)):
            return path
    raise UserError('no ground truth given and none found (%s with %s); pass --gt=DIR (-g), e.g. the WIDER '
                    "download's eval_tools/ground_truth" % (', '.join(os.path.join(root, f) for f in GT_SEARCH),
                                                            GT_FILE))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-p', '--pred', required=True,
                        help='result folder: <event>/<image>.txt files (name, count, "x y w h score" lines)')
    parser.add_argument('-g', '--gt',
                        help='folder with wider_face_val.mat and wider_{easy,medium,hard}_val.mat (default: the '
                             'first of %s under the repo root that has them)' % ', '.join(GT_SEARCH))
    parser.add_argument('--json', help='also write the three APs and their precision/recall curves to this file')
    parser.add_argument('--plot', help='also draw the three precision-recall curves into this image (.png)')
    return parser.parse_args(argv)


@main_entry
def main(argv=None):
    args = parse_args(argv)
    setup_logging()
    gt_dir = args.gt
    if gt_dir is None:
        gt_dir = find_ground_truth()
        print('ground truth: %s (the first of %s that has %s)' % (gt_dir, ', '.join(GT_SEARCH), GT_FILE),
              file=sys.stderr)
    for flag in ('--json', '--plot'):
        path = getattr(args, flag[2:])
        if path:
            check_writable_file(path, flag, {'--pred': args.pred, '--gt': gt_dir})
    results = protocol.evaluate(args.pred, gt_dir)
    print(protocol.format_results(results))
    if args.json:
        write_json(args.json, protocol.results_to_json(results))
    if args.plot:
        protocol.plot_curves(results, args.plot)


if __name__ == '__main__':
    main()
