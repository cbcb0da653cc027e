"""MACs and parameters of DSFD, dense vs pruned, per layer: `python mac.py` (settings in mac_config.py, or flags).

Works on a dense checkpoint (channels are selected first: by an eps threshold, or with --pruned_ratio each
group's top channels, e.g. --criterion=l1 --pruned_ratio=all:0.5), a checkpoint with a mask file, a slim
checkpoint, or with --plan on no checkpoint at all; --sensitivity prunes each group alone and plots the val loss
(and AP); --sensitivity --target_macs=0.3 then chooses the per-group ratios that meet that MAC budget at the
least predicted loss (--write_plan=plan.json writes them for `pruned_train.py --pruned_ratio=plan.json`).
"""
import argparse
import os
import sys
from types import SimpleNamespace

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)
DEFAULT_CONFIG = os.path.join(ROOT, 'mac_config.py')

from lib.common.cli import add_max_image_pixels, main_entry, setup_logging, setup_tensorflow  # noqa: E402


def parse_args(argv=None):
    from lib.pruning.selection import CRITERIA
    parser = argparse.ArgumentParser(
        description='MACs and parameters of DSFD, dense vs pruned, per layer (counted from the built graph).')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='mac config module (default: mac_config.py beside this script), or a training '
                             "config (ours or the original's, their mac_config.py too): it is the training config, "
                             "the checkpoint is the original's MODEL.trained_model or else its MODEL.model_path, "
                             'the other settings are mac_config.py\'s')
    parser.add_argument('--ckpt_path', help='checkpoint prefix or folder (a training folder: its best checkpoint) '
                        '(default: config.MODEL.trained_model)')
    parser.add_argument('--train_config', help='training config of the checkpoint (default: config.MODEL.train_config)')
    parser.add_argument('--input_size', help='H,W, multiples of 32 (default: config.INPUT.hin,win)')
    parser.add_argument('--pruned_ratio', help="'[0.5, ...]' (15 or 19 ratios), '{layer or group: ratio}' or "
                        "'all:0.5' (every prunable group): with --plan the planned architecture; with a dense "
                        "checkpoint, channel selection keeps each group's top channels by --criterion at these "
                        'ratios instead of the eps rule (--criterion=l1: one-shot L1 filter pruning)')
    parser.add_argument('--round_to', type=int, help='kept channel counts rounded up to a multiple of this, never '
                        'above the dense count, with --plan and channel selection (default: TRAIN.round_to)')
    parser.add_argument('--criterion', choices=CRITERIA, help='channel selection on a dense checkpoint')
    parser.add_argument('--eps', type=float, help="a channel whose score is <= eps is pruned (0: the original's "
                        'rule, a channel lives when its maximum is > 0)')
    parser.add_argument('--calib_source', help='val.txt-format list or image folder for the activation criterion')
    parser.add_argument('--calib_images', type=int, help='number of calibration images')
    parser.add_argument('--plan', action='store_true', help='no checkpoint: the configured architecture with '
                        'floor(ratio * C) channels of each layer removed')
    parser.add_argument('--sensitivity', action='store_true', help='prune each group alone, report val loss + plot')
    parser.add_argument('--target_macs', help='with --sensitivity: plan per-group ratios that bring the whole '
                        "detector's MACs to at most this fraction of the dense ones (0 < x <= 1) at the least "
                        'loss predicted from the sensitivity curves; the checkpoint must be a standard (dense) one')
    parser.add_argument('--write_plan', help='with --target_macs: write the plan as a pruned_ratio JSON file '
                        '(name ending in .json) for pruned_train.py --pruned_ratio / TRAIN.pruned_ratio')
    parser.add_argument('--overwrite', action='store_true', help='let --write_plan replace a file mac.py did not '
                        'write (or that was edited since)')
    parser.add_argument('--sensitivity_wider', help='with --sensitivity: also report easy/medium/hard AP on the first '
                        'SENSITIVITY.ap_images val images of this WIDER root (WIDER_val/images/, '
                        'eval_tools/ground_truth/*.mat) (default: config.SENSITIVITY.wider_val)')
    parser.add_argument('--json', help='also write the numbers to this JSON file')
    parser.add_argument('--profile', action='store_true', help="cross-check with TF's profiler (2 FLOPs per MAC)")
    add_max_image_pixels(parser)
    return parser.parse_args(argv)


def _parse_input_size(text):
    from lib.common.errors import UserError
    try:
        size = tuple(int(v) for v in text.split(','))
    except ValueError:
        size = ()
    if len(size) != 2:
        raise UserError('--input_size=%s: expected H,W such as 640,640' % text)
    return size


def _config_inputs(args):
    """The config files this run reads, by flag: an output may not be one of them."""
    return {flag: path for flag, path in (('--config', args.config), ('--train_config', args.train_config),
                                          ('--calib_source', args.calib_source)) if path}


def _parse_target(args):
    """--target_macs as a float in (0, 1] (None without it); --write_plan checked and claimed (a new file, or one
    mac.py wrote) before the long sensitivity run."""
    from lib.common.errors import UserError
    from lib.common.outputs import check_replaceable, check_writable_file
    if args.write_plan is not None:
        if args.target_macs is None:
            raise UserError('--write_plan is used by --target_macs only')
        if not args.write_plan.endswith('.json'):
            raise UserError('--write_plan=%s: expected a file name ending in .json (pruned_train.py reads a '
                            '--pruned_ratio ending in .json as a plan file)' % args.write_plan)
        check_replaceable([args.write_plan], 'mac', args.overwrite)
        check_writable_file(args.write_plan, '--write_plan', _config_inputs(args))
    if args.target_macs is None:
        return None
    if not args.sensitivity:
        raise UserError('--target_macs plans from the sensitivity curves: add --sensitivity')
    try:
        target = float(args.target_macs)
    except ValueError:
        target = float('nan')
    if not 0 < target <= 1:  # nan fails too
        raise UserError('--target_macs=%s: expected a fraction of the dense MACs, 0 < x <= 1 (0.3: 30%%)'
                        % args.target_macs)
    return target


def mac_and_training_configs(args):
    """(mac config, validated training config, the field of --config naming the checkpoint) of --config and
    --train_config.

    --config is a mac config (its MODEL.train_config names the training config) or a training config: ours or
    the original's (their mac_config.py is one too). A training config is the training config (unless
    --train_config names another), mac.py's other settings are mac_config.py's, and the checkpoint counted is
    the original's MODEL.trained_model where the file sets one, else the training config's MODEL.model_path
    (a training folder: its best checkpoint)."""
    from lib.config import load_config, load_training_config, validate_config
    from lib.model.arch import PRUNABLE_LAYERS
    from lib.original.config import is_original_config, trained_model
    config = load_config(args.config)
    if 'TRAIN' not in config:
        return config, load_training_config(args.train_config or config.MODEL.train_config), 'trained_model'
    validate_config(config, PRUNABLE_LAYERS)
    settings = load_config(DEFAULT_CONFIG)
    original = is_original_config(args.config) and trained_model(args.config)
    settings.MODEL.trained_model = original or config.MODEL.model_path
    train_config = load_training_config(args.train_config) if args.train_config else config
    return settings, train_config, 'trained_model' if original else 'model_path'


def resolve(args):
    """Flags over mac_config.py over the training config: every value the run uses, checked, in one place."""
    from lib import checkpoint
    from lib.common.errors import UserError
    from lib.common.image import check_input_size
    from lib.common.outputs import check_writable_file
    from lib.config import as_count, check_positive_int, check_pruned_ratio, parse_pruned_ratio
    from lib.model.arch import PRUNABLE_LAYERS, prunable_groups
    config, train_config, ckpt_field = mac_and_training_configs(args)
    if args.pruned_ratio is not None and (args.eps is not None or args.sensitivity):
        raise UserError('--pruned_ratio selects a fixed share of channels: it does not go with --eps or '
                        '--sensitivity')
    if args.sensitivity_wider and not args.sensitivity:
        raise UserError('--sensitivity_wider is used by --sensitivity only')
    target = _parse_target(args)
    if args.input_size is None:
        input_size = check_input_size(as_count((config.INPUT.hin, config.INPUT.win)),
                                      sides=('config.INPUT.hin', 'config.INPUT.win'))
    else:
        input_size = check_input_size(_parse_input_size(args.input_size), sides=('INPUT.hin', 'INPUT.win'))
    ratio = config.MODEL.pruned_ratio if args.pruned_ratio is None else parse_pruned_ratio(args.pruned_ratio)
    ratio = train_config.TRAIN.pruned_ratio if ratio is None else ratio
    ratio_field = 'TRAIN.pruned_ratio' if args.pruned_ratio is None else '--pruned_ratio'
    round_to = train_config.TRAIN.round_to if args.round_to is None else args.round_to
    round_to = check_positive_int('--round_to' if args.round_to is not None else 'TRAIN.round_to', round_to)
    if args.sensitivity:
        config.SENSITIVITY.num_images = check_positive_int('SENSITIVITY.num_images', config.SENSITIVITY.num_images)
    wider_val = args.sensitivity_wider or config.SENSITIVITY.wider_val
    if args.sensitivity and wider_val:
        config.SENSITIVITY.ap_images = check_positive_int('SENSITIVITY.ap_images', config.SENSITIVITY.ap_images)
    if args.json:
        check_writable_file(args.json, '--json', _config_inputs(args), allow_inside=True)
    if args.sensitivity:
        check_writable_file(config.SENSITIVITY.plot_path, 'SENSITIVITY.plot_path', _config_inputs(args),
                            allow_inside=True)
    ckpt = None
    if not args.plan:
        ckpt, _ = checkpoint.resolve_checkpoint(
            args.ckpt_path or config.MODEL.trained_model,
            hint='train one (README: pruned_train.py), or set config.MODEL.%s in %s or pass --ckpt_path (a '
                 'checkpoint prefix or folder)' % (ckpt_field, args.config))
    # --plan: the planned ratios (flag, config or training config); a checkpoint: only the flag's, for selection
    ratios = check_pruned_ratio(ratio, PRUNABLE_LAYERS, field=ratio_field, groups=prunable_groups(
        train_config.MODEL.fpn)) if args.plan or args.pruned_ratio is not None else None
    return SimpleNamespace(
        train_config=train_config, input_size=input_size, ckpt=ckpt, ratios=ratios, round_to=round_to,
        reselect=args.criterion is not None or args.eps is not None or ratios is not None,
        criterion=args.criterion or config.PRUNE.criterion,
        eps=config.PRUNE.eps if args.eps is None else args.eps,
        calib_source=args.calib_source or config.CALIB.source or train_config.DATA.val_txt_path,
        calib_count=check_positive_int('--calib_images' if args.calib_images else 'CALIB.num_images',
                                       args.calib_images or config.CALIB.num_images),
        max_image_pixels=args.max_image_pixels,
        sensitivity=config.SENSITIVITY, wider_val=wider_val,
        json=args.json, plan=args.plan, profile=args.profile, run_sensitivity=args.sensitivity,
        target_macs=target, write_plan=args.write_plan)


def checkpoint_kept_arch(settings, dense):
    """(kept Architecture, one line saying where the channel counts came from) of the checkpoint: its slim
    architecture, its mask file, or channel selection (which writes the mask)."""
    from lib import checkpoint
    from lib.common.errors import UserError
    from lib.common.outputs import check_writable_file
    from lib.pruning.calibration import calibration_images
    from lib.pruning.masks import check_kept, kept_counts, read_mask, write_mask
    from lib.pruning.macs import planned_kept
    from lib.pruning.selection import channel_scores, kept_top, select_channels
    ckpt, data = settings.ckpt, settings.train_config.DATA
    checkpoint.check_readable(ckpt)
    slim = checkpoint.load_arch(ckpt, dense)
    if not slim.same_network(dense):
        if settings.ratios is not None:
            raise UserError('--pruned_ratio selects channels of a dense checkpoint; %s is slim already (%s)'
                            % (ckpt, checkpoint.arch_path(ckpt)))
        checkpoint.check_fits_arch(ckpt, slim)
        wider = [n for n in dense.groups if slim.channels[n] > dense.channels[n]]
        if wider or slim.structure() != dense.structure():
            raise UserError('slim checkpoint %s (%s) is not a pruned version of the training config\'s model (%s); '
                            'pass the config it was trained with as --train_config'
                            % (ckpt, checkpoint.arch_path(ckpt), 'wider layers: ' + ', '.join(wider) if wider
                               else 'FPN/FEM dims or switches differ'))
        return slim, 'slim checkpoint %s (architecture from %s)' % (ckpt, checkpoint.arch_path(ckpt))
    checkpoint.check_fits_arch(ckpt, dense)
    mask_file = checkpoint.mask_path(ckpt)
    if os.path.isfile(mask_file) and not settings.reselect:
        kept = read_mask(mask_file)
        check_kept(kept, dense, mask_file)
        return dense.with_channels(kept_counts(kept)), 'checkpoint %s with mask %s' % (ckpt, mask_file)
    check_writable_file(mask_file, 'the mask file beside --ckpt_path')  # before the selection, not after
    rule = 'eps=%g' % settings.eps if settings.ratios is None else "each group's top channels at --pruned_ratio"
    how = "checkpoint %s, channels selected by the '%s' criterion, %s, round_to=%d" % (
        ckpt, settings.criterion, rule, settings.round_to)
    images = None
    if settings.criterion == 'activation':
        images = calibration_images(settings.calib_source, settings.calib_count, settings.input_size,
                                    data.PIXEL_MEAN, settings.max_image_pixels)
        how += ', on up to %d calibration images of %s' % (settings.calib_count, settings.calib_source)
    if settings.ratios is None:
        kept = select_channels(ckpt, dense, settings.criterion, settings.eps, data.PIXEL_MEAN, data.PIXEL_STD,
                               images, settings.round_to)
        write_mask(mask_file, kept, settings.criterion, settings.eps, ckpt)
    else:
        scores = channel_scores(ckpt, dense, settings.criterion, data.PIXEL_MEAN, data.PIXEL_STD, images)
        kept = kept_top(scores, planned_kept(dense, settings.ratios, settings.round_to))
        write_mask(mask_file, kept, settings.criterion, None, ckpt, pruned_ratio=settings.ratios)
    return dense.with_channels(kept_counts(kept)), how + '; mask written to %s' % mask_file


def profile_lines(dense, kept, settings):
    """TF's profiler Conv2D FLOPs / 2 next to the counted MACs, for both graphs."""
    from lib.pruning import macs
    lines = []
    for label, arch in (('dense', dense), ('kept', kept)):
        graph, outputs, endpoints = macs.inference_graph(arch, settings.input_size, settings.train_config)
        counted = sum(c.macs for c in macs.count_convs(endpoints.recorder, list(outputs.values())))
        profiled = macs.profiler_conv_flops(graph, macs.reachable_ops(list(outputs.values()))) / 2.
        lines.append('profiler %-5s Conv2D FLOPs / 2 = %s, counted MACs = %s (%+.3f%%)'
                     % (label, '{:,.0f}'.format(profiled), '{:,}'.format(counted), 100. * (profiled / counted - 1)))
    return lines


def run_sensitivity(settings, dense):
    """Prune each group alone at each SENSITIVITY.ratios; print the table, draw the plot, write the JSON; with a
    MAC target, plan the ratios (lib.pruning.budget) and write them to --write_plan."""
    from lib import checkpoint
    from lib.common.errors import UserError
    from lib.common.io import write_json
    from lib.evaluation.subset import ValSubset
    from lib.pruning import sensitivity
    config, train_config = settings.sensitivity, settings.train_config
    checkpoint.check_readable(settings.ckpt)
    arch = checkpoint.load_arch(settings.ckpt, dense)
    if settings.target_macs is not None and not arch.same_network(dense):
        raise UserError('--target_macs plans ratios of the training config\'s dense model, but checkpoint %s is '
                        'slim or of another architecture (%s); use the standard checkpoint it was pruned from'
                        % (settings.ckpt, checkpoint.arch_path(settings.ckpt)))
    batches = sensitivity.val_batches(settings.calib_source, config.num_images, settings.input_size, arch,
                                      train_config, max_image_pixels=settings.max_image_pixels)
    ap_set = None
    if settings.wider_val:  # AP at the training input size, where the detector was trained
        ap_set = ValSubset(settings.wider_val, config.ap_images, (train_config.DATA.hin, train_config.DATA.win),
                           max_image_pixels=settings.max_image_pixels)
    result = sensitivity.analyse(settings.ckpt, arch, train_config, batches, settings.input_size, config.ratios,
                                 ap_set=ap_set)
    print(sensitivity.format_table(result))
    sensitivity.plot(result, config.plot_path)
    print('plot written to %s' % config.plot_path)
    if settings.target_macs is not None:
        result['budget'] = run_budget(settings, dense, result)
    if settings.json:
        write_json(settings.json, result)


def run_budget(settings, dense, result):
    """Plan the ratios for settings.target_macs from the sensitivity ``result``; print the plan and the MAC report
    of the planned architecture (counted on its own graph); write --write_plan. Returns the plan's JSON form."""
    from lib.common.io import write_json
    from lib.common.outputs import record_written
    from lib.pruning import budget, macs
    from lib.pruning.mac_report import format_report
    counts = macs.count_arch(dense, settings.input_size, settings.train_config)
    plan = budget.plan_budget(counts, dense, result, settings.target_macs, settings.round_to)
    print(budget.format_plan(plan, dense, counts))
    kept = dense.with_channels(macs.planned_kept(dense, plan.ratios, settings.round_to))
    report = macs.compare(counts, macs.count_arch(kept, settings.input_size, settings.train_config),
                          settings.input_size)
    print(format_report(report, 'the budget plan, counted on its own graph'))
    achieved = report['total']['macs_kept']
    print('achieved %s MACs = %.2f%% of dense (target <= %.2f%%)' % (
        '{:,}'.format(achieved), 100. * achieved / plan.dense_macs, 100. * settings.target_macs))
    if settings.write_plan:
        write_json(settings.write_plan, plan.ratios)
        record_written([settings.write_plan], 'mac')
        print('plan written to %s (pruned_train.py --pruned_ratio=%s, with TRAIN.round_to = %d)'
              % (settings.write_plan, settings.write_plan, settings.round_to))
    data = budget.plan_dict(plan)
    data['counted_macs'] = achieved
    return data


def run(argv=None):
    """mac.py without the exit handling: a UserError propagates (tests call this)."""
    setup_tensorflow()
    args = parse_args(argv)
    setup_logging()
    from lib.common.io import write_json
    from lib.config import dense_architecture
    from lib.pruning import macs
    from lib.pruning.mac_report import format_report, pruned_mac_percent
    settings = resolve(args)
    dense = dense_architecture(settings.train_config)
    if settings.run_sensitivity:
        return run_sensitivity(settings, dense)
    if settings.plan:
        kept = dense.with_channels(macs.planned_kept(dense, settings.ratios, settings.round_to))
        how = 'plan: the configured architecture with floor(ratio * C) channels removed per group'
    else:
        kept, how = checkpoint_kept_arch(settings, dense)
    report = macs.compare(macs.count_arch(dense, settings.input_size, settings.train_config),
                          macs.count_arch(kept, settings.input_size, settings.train_config), settings.input_size)
    report['pruned_mac_pct'] = pruned_mac_percent(report)
    print(format_report(report, how))
    if settings.profile:
        print('\n'.join(profile_lines(dense, kept, settings)))
    if settings.json:
        write_json(settings.json, report)
        print('numbers written to %s' % settings.json)


main = main_entry(run, kept='mac.py writes each output whole once its part is done (nothing half-written); '
                              're-run the same command')

if __name__ == '__main__':
    main()
