"""`python mac.py`: where the kept channels come from (plan, slim checkpoint, mask, selection), then the report."""
import argparse
import ast
import logging
import os

from lib.helper.config_check import (check_input_size, check_positive_int, check_pruned_ratio, load_config,
                                      load_training_config)
from lib.helper.errors import UserError
from lib.helper.io import write_json
from lib.model.arch import PRUNABLE_LAYERS, Architecture, arch_path, load_arch
from lib.pruning import checkpoint_io, macs, sensitivity
from lib.pruning.calibration import calibration_images
from lib.pruning.mac_report import format_report
from lib.pruning.masks import check_kept, kept_counts, mask_path, read_mask, write_mask
from lib.pruning.selection import CRITERIA, select_channels
from lib.pruning.sensitivity_ap import WiderApSet

log = logging.getLogger('mac')


def parse_args(argv, default_config):
    parser = argparse.ArgumentParser(
        description='MACs and parameters of DSFD, dense vs pruned, per layer (counted from the built graph).')
    parser.add_argument('--config', default=default_config, help='mac config module (default: %(default)s)')
    parser.add_argument('--ckpt_path', help='checkpoint prefix (default: config.MODEL.trained_model)')
    parser.add_argument('--train_config', help='training config of the checkpoint (default: config.MODEL.train_config)')
    parser.add_argument('--input_size', help='H,W, multiples of 32 (default: config.INPUT.hin,win)')
    parser.add_argument('--pruned_ratio', help="with --plan: '[0.5, ...]' (15 or 19 ratios) or '{layer: ratio}'")
    parser.add_argument('--criterion', choices=CRITERIA, help='channel selection on a dense checkpoint')
    parser.add_argument('--eps', type=float, help='a channel whose score is <= eps is pruned')
    parser.add_argument('--calib_source', help='val.txt-format list or image folder for the activation criterion')
    parser.add_argument('--calib_images', type=int, help='number of calibration images')
    parser.add_argument('--plan', action='store_true', help='no checkpoint: the configured architecture with '
                        'floor(ratio * C) channels of each layer removed')
    parser.add_argument('--sensitivity', action='store_true', help='prune each layer alone, report val loss + plot')
    parser.add_argument('--sensitivity_wider', help='with --sensitivity: also report easy/medium/hard AP on the first '
                        'SENSITIVITY.ap_images val images of this WIDER root (WIDER_val/images/, '
                        'eval_tools/ground_truth/*.mat) (default: config.SENSITIVITY.wider_val)')
    parser.add_argument('--json', help='also write the numbers to this JSON file')
    parser.add_argument('--profile', action='store_true', help="cross-check with TF's profiler (2 FLOPs per MAC)")
    return parser.parse_args(argv)


def _input_size(args, config):
    if args.input_size is None:
        size = (config.INPUT.hin, config.INPUT.win)
    else:
        try:
            size = tuple(int(v) for v in args.input_size.split(','))
        except ValueError:
            size = ()
        if len(size) != 2:
            raise UserError('--input_size=%s: expected H,W such as 640,640' % args.input_size)
    check_input_size(size[0], size[1], field='INPUT')
    return size


def _pruned_ratio(args, config, train_config):
    if args.pruned_ratio is None:
        ratio = config.MODEL.pruned_ratio
        ratio = train_config.TRAIN.pruned_ratio if ratio is None else ratio
        return check_pruned_ratio(ratio, PRUNABLE_LAYERS)
    try:
        ratio = ast.literal_eval(args.pruned_ratio)
    except (ValueError, SyntaxError):
        raise UserError("--pruned_ratio=%s: expected a Python list such as '[0.5, 0.5, ...]' or a dict"
                        % args.pruned_ratio)
    return check_pruned_ratio(ratio, PRUNABLE_LAYERS, field='--pruned_ratio')


def _calibration(args, config, train_config, input_size):
    source = args.calib_source or config.CALIB.source or train_config.DATA.val_txt_path
    count = args.calib_images or config.CALIB.num_images
    return source, count, calibration_images(source, count, input_size)


def checkpoint_kept_arch(args, config, train_config, dense, input_size):
    """(kept Architecture, one line saying where the channel counts came from) of the checkpoint."""
    ckpt = args.ckpt_path or config.MODEL.trained_model
    checkpoint_io.require_checkpoint(ckpt)
    slim = load_arch(ckpt, dense)
    if slim.is_slimmer_than(dense) or slim.structure() != dense.structure():
        checkpoint_io.check_fits_arch(ckpt, slim)
        wider = [n for n in PRUNABLE_LAYERS if slim.channels[n] > dense.channels[n]]
        if wider or slim.structure() != dense.structure():
            raise UserError('slim checkpoint %s (%s) is not a pruned version of the training config\'s model (%s); '
                            'pass the config it was trained with as --train_config'
                            % (ckpt, arch_path(ckpt), 'wider layers: ' + ', '.join(wider) if wider
                               else 'FPN/FEM dims or switches differ'))
        return slim, 'slim checkpoint %s (architecture from %s)' % (ckpt, arch_path(ckpt))
    checkpoint_io.check_fits_arch(ckpt, dense)
    reselect = args.criterion is not None or args.eps is not None
    if os.path.isfile(mask_path(ckpt)) and not reselect:
        kept = read_mask(mask_path(ckpt))
        check_kept(kept, dense, mask_path(ckpt))
        return dense.with_channels(kept_counts(kept)), 'checkpoint %s with mask %s' % (ckpt, mask_path(ckpt))
    criterion = args.criterion or config.PRUNE.criterion
    eps = config.PRUNE.eps if args.eps is None else args.eps
    how = "checkpoint %s, channels selected by the '%s' criterion, eps=%g" % (ckpt, criterion, eps)
    images = None
    if criterion == 'activation':
        source, count, images = _calibration(args, config, train_config, input_size)
        how += ', on up to %d calibration images of %s' % (count, source)
    kept = select_channels(ckpt, dense, criterion, eps, images, train_config.DATA.PIXEL_MEAN,
                           train_config.DATA.PIXEL_STD)
    write_mask(mask_path(ckpt), kept, criterion, eps, ckpt)
    return dense.with_channels(kept_counts(kept)), how + '; mask written to %s' % mask_path(ckpt)


def profile_lines(dense, kept, input_size, train_config):
    """TF's profiler Conv2D FLOPs / 2 next to the counted MACs, for both graphs."""
    lines = []
    for label, arch in (('dense', dense), ('kept', kept)):
        graph, outputs, endpoints = macs.inference_graph(arch, input_size, train_config)
        counted = sum(c.macs for c in macs.count_convs(endpoints.recorder, list(outputs.values())))
        profiled = macs.profiler_conv_flops(graph, macs.reachable_ops(list(outputs.values()))) / 2.
        lines.append('profiler %-5s Conv2D FLOPs / 2 = %s, counted MACs = %s (%+.3f%%: the profiler counts the '
                     'dilated FEM convs on their SpaceToBatch-padded maps)'
                     % (label, '{:,.0f}'.format(profiled), '{:,}'.format(counted), 100. * (profiled / counted - 1)))
    return lines


def _ap_set(args, config, train_config):
    """The WIDER val images the sensitivity AP is measured on (at the training input size), or None."""
    root = args.sensitivity_wider or config.SENSITIVITY.wider_val
    if not root:
        return None
    check_positive_int('SENSITIVITY.ap_images', config.SENSITIVITY.ap_images)
    check_input_size(train_config.DATA.hin, train_config.DATA.win)
    return WiderApSet(root, config.SENSITIVITY.ap_images, (train_config.DATA.hin, train_config.DATA.win))


def run_sensitivity(args, config, train_config, dense, input_size):
    ckpt = args.ckpt_path or config.MODEL.trained_model
    checkpoint_io.require_checkpoint(ckpt)
    arch = load_arch(ckpt, dense)
    source = args.calib_source or config.CALIB.source or train_config.DATA.val_txt_path
    batches = sensitivity.val_batches(source, config.SENSITIVITY.num_images, input_size, arch, train_config)
    result = sensitivity.analyse(ckpt, arch, train_config, batches, input_size, config.SENSITIVITY.ratios,
                                 ap_set=_ap_set(args, config, train_config))
    print(sensitivity.format_table(result))
    sensitivity.plot(result, config.SENSITIVITY.plot_path)
    print('plot written to %s' % config.SENSITIVITY.plot_path)
    if args.json:
        write_json(args.json, result)


def main(argv, default_config):
    args = parse_args(argv, default_config)
    config = load_config(args.config)
    train_config = load_training_config(args.train_config or config.MODEL.train_config)
    input_size = _input_size(args, config)
    dense = Architecture.from_model_config(train_config.MODEL)
    if args.pruned_ratio is not None and not args.plan:
        raise UserError('--pruned_ratio is used by --plan only; a checkpoint\'s channels come from its mask, '
                        '.arch.json or channel selection')
    if args.sensitivity_wider and not args.sensitivity:
        raise UserError('--sensitivity_wider is used by --sensitivity only')
    if args.sensitivity:
        return run_sensitivity(args, config, train_config, dense, input_size)
    if args.plan:
        kept = dense.with_channels(macs.planned_kept(dense, _pruned_ratio(args, config, train_config)))
        how = 'plan: the configured architecture with floor(ratio * C) channels removed per layer'
    else:
        kept, how = checkpoint_kept_arch(args, config, train_config, dense, input_size)
    report = macs.compare(macs.count_arch(dense, input_size, train_config),
                          macs.count_arch(kept, input_size, train_config), input_size)
    print(format_report(report, how))
    if args.profile:
        print('\n'.join(profile_lines(dense, kept, input_size, train_config)))
    if args.json:
        write_json(args.json, report)
        print('numbers written to %s' % args.json)
