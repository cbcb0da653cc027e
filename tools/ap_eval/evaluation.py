"""WIDER FACE validation AP (easy / medium / hard) of a result folder, the official protocol.

    python tools/ap_eval/evaluation.py --pred=DIR [--gt=DIR] [--json=FILE] [--plot=FILE.png]

Needs the Cython kernel once: cd tools/ap_eval && python setup.py build_ext --inplace
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from lib.common.cli import main_entry, setup_logging  # noqa: E402
from lib.common.io import write_json  # noqa: E402
from lib.evaluation import protocol  # noqa: E402

DEFAULT_GT = os.path.join('data', 'WIDER', 'eval_tools', 'ground_truth')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--pred', required=True,
                        help='result folder: <event>/<image>.txt files (name, count, "x y w h score" lines)')
    parser.add_argument('--gt', default=os.path.join(ROOT, DEFAULT_GT),
                        help='folder with wider_face_val.mat and wider_{easy,medium,hard}_val.mat '
                             '(default: %s relative to the repo root)' % DEFAULT_GT)
    parser.add_argument('--json', help='also write the three APs and their precision/recall curves to this file')
    parser.add_argument('--plot', help='also draw the three precision-recall curves into this image (.png)')
    return parser.parse_args(argv)


@main_entry
def main(argv=None):
    args = parse_args(argv)
    setup_logging()
    results = protocol.evaluate(args.pred, args.gt)
    print(protocol.format_results(results))
    if args.json:
        write_json(args.json, protocol.results_to_json(results))
    if args.plot:
        protocol.plot_curves(results, args.plot)


if __name__ == '__main__':
    main()
