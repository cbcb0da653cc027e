"""FDDB's discrete and continuous ROC of a folder of detection files, as the official FDDB evaluation does.

    python tools/fddb_eval.py --pred=results/fddb --data_dir=FDDB/originalPics --split_dir=FDDB-folds

Reads PRED/fold-XX-out.txt (tools/fddb.py) for every FDDB-fold-XX-ellipseList.txt of --split_dir, prints the
true positive rates at --fp false positives and writes DiscROC.txt, ContROC.txt (`tpr fp` per line, the official
files) and roc.png into --out (default: beside PRED, PRED_roc).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.common.cli import main_entry  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--pred', '-p', required=True, help='folder of fold-XX-out.txt detection files')
    parser.add_argument('--data_dir', required=True, help='FDDB image folder (originalPics): image sizes')
    parser.add_argument('--split_dir', required=True, help='FDDB-folds folder with FDDB-fold-XX-ellipseList.txt')
    parser.add_argument('--out', default=None, help='folder for DiscROC.txt, ContROC.txt, roc.png (default: PRED_roc)')
    parser.add_argument('--fp', type=int, default=1000, help='report the rates at this many false positives '
                        '(default: %(default)s)')
    parser.add_argument('--overwrite', action='store_true',
                        help='write into an existing non-empty --out folder this tool did not make')
    return parser.parse_args(argv)


def plot_roc(path, points, max_fp):
    """Both ROC curves (true positive rate against false positives, up to ``max_fp``) into an image file."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from lib.common.io import atomic_path
    from lib.evaluation.fddb import rates
    table = rates(points)
    figure, axes = plt.subplots(figsize=(6, 4.5))
    axes.step(table[:, 2], table[:, 0], where='post', label='discrete')
    axes.step(table[:, 2], table[:, 1], where='post', label='continuous')
    axes.set_xlim(0, max_fp)
    axes.set_ylim(0, 1)
    axes.set_xlabel('false positives')
    axes.set_ylabel('true positive rate')
    axes.grid(True, alpha=0.3)
    axes.legend(loc='lower right')
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format='png', dpi=100)
    plt.close(figure)


@main_entry
def main(argv=None):
    args = parse_args(argv)
    from lib.common.errors import UserError
    from lib.common.io import write_text
    from lib.common.outputs import check_disjoint, claim_output_dir
    from lib.data.fddb import list_folds
    from lib.evaluation.fddb import detection_file, evaluate_folds, format_roc, tpr_at
    if args.fp < 0:
        raise UserError('--fp=%d: expected a count >= 0' % args.fp)
    if not os.path.isdir(args.pred):
        raise UserError('--pred=%s is not a folder; expected the --result folder of tools/fddb.py' % args.pred)
    out = args.out or os.path.abspath(args.pred).rstrip(os.sep) + '_roc'
    folds = list_folds(args.split_dir)
    check_disjoint({'--pred': args.pred, '--data_dir': args.data_dir, '--split_dir': args.split_dir}, {'--out': out})
    points = evaluate_folds(folds, args.data_dir, {f.number: detection_file(args.pred, f.number) for f in folds})
    claim_output_dir(out, 'fddb_eval', args.overwrite, '--out')
    write_text(os.path.join(out, 'DiscROC.txt'), format_roc(points, continuous=False))
    write_text(os.path.join(out, 'ContROC.txt'), format_roc(points, continuous=True))
    plot_roc(os.path.join(out, 'roc.png'), points, max(args.fp * 2, 1))
    disc, cont = tpr_at(points, args.fp)
    faces = points[0].faces if points else 0
    print('FDDB, %d folds, %d faces' % (len(folds), faces))
    print('Discrete   TPR at %d FP: %.4f' % (args.fp, disc))
    print('Continuous TPR at %d FP: %.4f' % (args.fp, cont))
    print('wrote DiscROC.txt, ContROC.txt, roc.png to %s' % out)


if __name__ == '__main__':
    main()
