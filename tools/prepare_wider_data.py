"""WIDER FACE annotations -> train.txt / val.txt (``path| x1,y1,x2,y2,1 ...`` one image a line)."""
import argparse
import contextlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.data.sample_list import write_sample_list  # noqa: E402
from lib.data.wider import SPLITS, convert_split  # noqa: E402
from lib.common.cli import main_entry  # noqa: E402
from lib.common.io import atomic_path  # noqa: E402
from lib.common.outputs import check_replaceable, check_writable_dir, record_written  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--wider_root', default='data/WIDER',
                        help='folder holding WIDER_train/, WIDER_val/ and wider_face_split/ (default: %(default)s)')
    parser.add_argument('--out_dir', default='data', help='where train.txt and val.txt go (default: %(default)s)')
    parser.add_argument('--min_size', type=float, default=0,
                        help='drop faces whose shorter side is below this many pixels (default: %(default)s)')
    parser.add_argument('--keep_empty', action='store_true',
                        help='keep images left without faces as pure negatives (default: skip them)')
    parser.add_argument('--skip_invalid', dest='skip_invalid', action='store_true', default=True,
                        help='drop faces flagged invalid (default)')
    parser.add_argument('--no-skip_invalid', '--no_skip_invalid', dest='skip_invalid', action='store_false',
                        help='keep faces flagged invalid')
    parser.add_argument('--allow_missing', action='store_true',
                        help='skip images listed in the annotations but missing on disk (default: error)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace a train.txt / val.txt in --out_dir that this tool did not write')
    return parser.parse_args(argv)


@main_entry
def main(argv=None):
    args = parse_args(argv)
    check_writable_dir(args.out_dir, '--out_dir')
    outs = [os.path.join(args.out_dir, '%s.txt' % split) for split in SPLITS]
    check_replaceable(outs, 'prepare_wider_data', args.overwrite)
    converted = [(split,) + convert_split(args.wider_root, split, args.min_size, args.skip_invalid,
                                          args.keep_empty, args.allow_missing) for split in SPLITS]
    with contextlib.ExitStack() as stack:  # every list written to a temp file first, renamed only if all were
        for out, (_, samples, _) in zip(outs, converted):
            write_sample_list(stack.enter_context(atomic_path(out)), samples)
    record_written(outs, 'prepare_wider_data')
    for out, (split, samples, stats) in zip(outs, converted):
        dropped = ', '.join('%d %s' % (stats.dropped[r], r) for r in ('degenerate', 'invalid', 'small'))
        print('%s: %d images, %d faces -> %s; dropped faces: %s; images skipped: %d without faces, %d missing'
              % (split, stats.images, stats.faces, out, dropped, stats.empty_skipped, len(stats.missing)))


if __name__ == '__main__':
    main()
