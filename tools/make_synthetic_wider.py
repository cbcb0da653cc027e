"""Write a synthetic WIDER FACE (drawn faces, exact WIDER layout, annotation .txt and eval .mat files)."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.data.synthetic import CROWD_FACES, CROWD_MAX_FACE, make_synthetic_wider  # noqa: E402
from lib.common.cli import main_entry  # noqa: E402
from lib.common.errors import UserError  # noqa: E402
from lib.common.outputs import claim_output_dir  # noqa: E402


def add_scene_arguments(parser, min_side, max_side, min_face, max_face, max_faces):
    """The flags of the drawn scenes (shared with tools/make_synthetic_fddb.py), with these defaults."""
    parser.add_argument('--seed', type=int, default=0, help='same seed, same bytes (default: %(default)s)')
    parser.add_argument('--min_side', type=int, default=min_side, help='smallest image width (default: %(default)s)')
    parser.add_argument('--max_side', type=int, default=max_side, help='largest image side (default: %(default)s)')
    parser.add_argument('--min_face', type=float, default=min_face, help='smallest face height (default: %(default)s)')
    parser.add_argument('--max_face', type=float, default=max_face, help='largest face height (default: %(default)s)')
    parser.add_argument('--max_faces', type=int, default=max_faces, help='most faces an image (default: %(default)s)')
    parser.add_argument('--overwrite', action='store_true',
                        help='write into an existing non-empty --out this tool did not make (files of the same '
                             'name are replaced)')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', required=True, help='output WIDER root (WIDER_train/, WIDER_val/, ...)')
    parser.add_argument('--train', type=int, default=200, help='training images (default: %(default)s)')
    parser.add_argument('--val', type=int, default=50, help='validation images (default: %(default)s)')
    add_scene_arguments(parser, 320, 1024, 8, 300, 12)
    parser.add_argument('--crowd', action='store_true',
                        help='crowd scenes: hundreds of small faces an image (%d..%d drawn, at most %d px high; '
                             '--max_faces unused)' % (CROWD_FACES + (CROWD_MAX_FACE,)))
    return parser.parse_args(argv)


@main_entry
def main(argv=None):
    args = parse_args(argv)
    if args.train < 0 or args.val < 0:
        raise UserError('--train and --val must be >= 0, got %d and %d' % (args.train, args.val))
    if args.train == 0 and args.val == 0:
        raise UserError('--train=0 --val=0 writes nothing; ask for at least one image')
    claim_output_dir(args.out, 'make_synthetic_wider', args.overwrite)
    start = time.time()
    try:
        made = make_synthetic_wider(args.out, args.train, args.val, args.seed, args.min_side, args.max_side,
                                    args.min_face, args.max_face, args.max_faces, args.crowd)
    except ValueError as err:
        raise UserError('%s; fix the flags' % err)
    for split, images in sorted(made.items()):
        print('%s: %d images, %d faces' % (split, len(images), sum(len(im.boxes) for im in images)))
    print('wrote %s in %.1f s' % (args.out, time.time() - start))


if __name__ == '__main__':
    main()
