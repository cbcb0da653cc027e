"""Convert a checkpoint written by the original's trainer (610265158/DSFD-tensorflow, as the seed uses it) into
one of this project, with its architecture and normalisation beside it (OUT_PREFIX.arch.json).

    python tools/convert_checkpoint.py --ckpt_path=model/epoch_10.ckpt --output_path=converted/epoch_10.ckpt
    python tools/auto_freeze.py --ckpt_path=converted/epoch_10.ckpt --output_path=export

The network (DSFD, the one-shot FPN model or the plain SSD of MODEL.fpn=False, any width) is recognised from the
variables; optimizer slots, global_step and the like are dropped. A missing model variable is an error.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.common.cli import main_entry, setup_tensorflow  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--ckpt_path', required=True, help="the original's checkpoint prefix (.../model.ckpt-1000)")
    parser.add_argument('--output_path', required=True, help='prefix of the converted checkpoint')
    parser.add_argument('--pixel_mean', type=float, nargs=3, default=None, metavar=('R', 'G', 'B'),
                        help="the original's config.DATA.PIXEL_MEAN (default: its 123 116 103)")
    parser.add_argument('--pixel_std', type=float, nargs=3, default=None, metavar=('R', 'G', 'B'),
                        help="the original's config.DATA.PIXEL_STD (default: its 58 57 57)")
    parser.add_argument('--verbose', action='store_true', help='list every mapped and unused name')
    return parser.parse_args(argv)


@main_entry
def main(argv=None):
    args = parse_args(argv)
    setup_tensorflow()
    from lib.common.errors import UserError
    from lib.checkpoint import arch_path
    from lib.common.outputs import check_writable_file
    from lib.original.checkpoint import ORIGINAL_PIXEL_MEAN, ORIGINAL_PIXEL_STD, convert_checkpoint
    check_writable_file(args.output_path, '--output_path')  # now, not after reading the checkpoint
    pixel_std = args.pixel_std or ORIGINAL_PIXEL_STD
    if any(v <= 0 for v in pixel_std):
        raise UserError('--pixel_std %s: expected three numbers > 0' % ' '.join(str(v) for v in pixel_std))
    conversion = convert_checkpoint(args.ckpt_path, args.output_path, args.pixel_mean or ORIGINAL_PIXEL_MEAN,
                                    pixel_std)
    arch = conversion.arch
    network = ('DSFD (two shots)' if arch.dual_mode else 'one-shot FPN + FEM model') if arch.fpn else 'plain SSD'
    print('network: %s, fc7 %d channels, normalisation mean %s std %s'
          % (network, arch.channels['fc7'], arch.pixel_mean, arch.pixel_std))
    print('mapped:  %d model variables' % len(conversion.mapped))
    print('missing: %d' % len(conversion.missing))
    print('unused:  %d checkpoint entries (optimizer slots, global_step, ...)' % len(conversion.unused))
    if args.verbose:
        for name in conversion.mapped:
            print('  mapped  %s' % name)
        for name in conversion.unused:
            print('  unused  %s' % name)
    print('wrote %s (+ %s)' % (args.output_path, os.path.basename(arch_path(args.output_path))))


if __name__ == '__main__':
    main()
