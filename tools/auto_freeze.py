"""Freeze a checkpoint into OUTPUT_PATH/detector.pb (dense, or --slim with the pruned channels removed).

    python tools/auto_freeze.py --ckpt_path=face_detector/optimized --output_path=export [--slim] [--saved_model DIR]

The frozen graph takes images:0 ([N, H, W, 3] RGB, uint8 or float32, H and W multiples of 32) and returns
boxes:0 ([N, K, 4] normalised ymin, xmin, ymax, xmax), scores:0 ([N, K]) and num_detections:0 ([N]).
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.common.cli import main_entry, setup_tensorflow  # noqa: E402

PB_NAME = 'detector.pb'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--ckpt_path', required=True,
                        help='checkpoint prefix (.../epoch_5.ckpt) or a folder (its newest checkpoint is used)')
    parser.add_argument('--output_path', required=True, help='folder that receives %s' % PB_NAME)
    parser.add_argument('--slim', action='store_true',
                        help='freeze the physically slimmed model: a slim checkpoint (with .arch.json), or the '
                             'checkpoint sliced by its mask file')
    parser.add_argument('--mask', default=None, help='mask file for --slim (default: <ckpt>.mask.json)')
    parser.add_argument('--saved_model', default=None, metavar='DIR',
                        help='also write a SavedModel with a serving_default signature to DIR (a new folder, '
                             'or one an earlier --saved_model run wrote; never the output folder)')
    parser.add_argument('--overwrite', action='store_true',
                        help='write into an existing non-empty --output_path this tool did not make')
    parser.add_argument('--config', default=os.path.join(ROOT, 'pruned_train_config.py'),
                        help='config module (model structure, anchors, TEST thresholds)')
    return parser.parse_args(argv)


@main_entry
def main(argv=None):
    args = parse_args(argv)
    setup_tensorflow()
    from lib.checkpoint import resolve_checkpoint
    from lib.common.errors import UserError
    from lib.common.outputs import check_disjoint, claim_output_dir
    from lib.config import dense_architecture, load_training_config
    from lib.export import freeze
    from lib.pruning.slimming import slim_checkpoint_for
    if args.mask and not args.slim:
        raise UserError('--mask=%s is only used with --slim; add --slim or drop --mask' % args.mask)
    config = load_training_config(args.config)
    ckpt, how = resolve_checkpoint(args.ckpt_path)
    inputs = {'--ckpt_path': os.path.dirname(os.path.abspath(ckpt))}
    check_disjoint(inputs, {'--output_path': args.output_path}, allow_inside=True)
    if args.saved_model:
        check_disjoint(dict(inputs, **{'--output_path': args.output_path}), {'--saved_model': args.saved_model},
                       allow_inside=True)
        freeze.check_saved_model_dir(args.saved_model)
    claim_output_dir(args.output_path, 'auto_freeze', args.overwrite, '--output_path')
    print('checkpoint: %s (%s)' % (ckpt, how))
    if args.slim:
        slim_ckpt = slim_checkpoint_for(ckpt, dense_architecture(config), os.path.join(args.output_path, 'slim'),
                                        args.mask)
        print('slim checkpoint: %s%s' % (slim_ckpt, ' (already slim)' if slim_ckpt == ckpt else ''))
        ckpt = slim_ckpt
    info = freeze.freeze_checkpoint(ckpt, config, os.path.join(args.output_path, PB_NAME),
                                    saved_model_dir=args.saved_model)
    print('wrote %s (%.2f MB)' % (info['output_path'], info['file_size'] / 1e6))
    print('input:   %s  [N, H, W, 3] RGB, uint8 or float32, H and W multiples of 32' % info['input'])
    print('outputs: %s  [N, K, 4] normalised (ymin, xmin, ymax, xmax)' % info['outputs'][0])
    print('         %s  [N, K]' % info['outputs'][1])
    print('         %s  [N]' % info['outputs'][2])
    if args.saved_model:
        print('saved model: %s (signature serving_default, tag serve)' % args.saved_model)


if __name__ == '__main__':
    main()
