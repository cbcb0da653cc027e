"""Write a synthetic FDDB (the synthetic WIDER set's drawn faces in the FDDB layout: originalPics/, FDDB-folds/)."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.common.cli import main_entry  # noqa: E402
from lib.common.errors import UserError  # noqa: E402
from lib.common.outputs import claim_output_dir  # noqa: E402
from lib.data.synthetic_fddb import IMAGE_DIR, SPLIT_DIR, make_synthetic_fddb  # noqa: E402
from make_synthetic_wider import add_scene_arguments  # noqa: E402  (this script's folder is on sys.path)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', required=True, help='output FDDB root (originalPics/, FDDB-folds/)')
    parser.add_argument('--images', type=int, default=50, help='images in all (default: %(default)s)')
    parser.add_argument('--folds', type=int, default=10, help='folds (default: %(default)s, as FDDB)')
    add_scene_arguments(parser, 250, 450, 20, 250, 6)
    return parser.parse_args(argv)


@main_entry
def main(argv=None):
    args = parse_args(argv)
    if args.images < 1 or args.folds < 1:
        raise UserError('--images=%d --folds=%d: expected at least one image and one fold' % (args.images, args.folds))
    if not (0 < args.min_face <= args.max_face and 0 < args.min_side <= args.max_side and args.max_faces >= 1
            and 0 <= args.seed < 2 ** 32):
        raise UserError('need 0 < --min_face <= --max_face, 0 < --min_side <= --max_side, --max_faces >= 1, '
                        '0 <= --seed < 2**32')
    claim_output_dir(args.out, 'make_synthetic_fddb', args.overwrite)
    start = time.time()
    folds = make_synthetic_fddb(args.out, args.images, args.seed, args.folds, args.min_side, args.max_side,
                                args.min_face, args.max_face, args.max_faces)
    faces = sum(len(e) for _, images in folds for _, e in images)
    print('%d folds, %d images, %d faces: %s and %s under %s in %.1f s'
          % (len(folds), args.images, faces, IMAGE_DIR, SPLIT_DIR, args.out, time.time() - start))


if __name__ == '__main__':
    main()
