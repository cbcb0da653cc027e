"""Freeze a checkpoint into OUTPUT_PATH/detector.pb (dense, or --slim with the pruned channels removed).

    python tools/auto_freeze.py --ckpt_path=face_detector/optimized --output_path=export [--slim] [--saved_model DIR]
        [--onnx[=fp32,int8]] [--openvino=fp32,int8] [--tflite=fp32,fp16,int8 [--input_size=640,640]]
        [--calib_images=100 --calib_source=val.txt]

The frozen graph takes images:0 ([N, H, W, 3] RGB, uint8 or float32, H and W multiples of 32) and returns
boxes:0 ([N, K, 4] normalised ymin, xmin, ymax, xmax), scores:0 ([N, K]) and num_detections:0 ([N]).
--onnx writes detector.onnx beside it (same names, dynamic batch/height/width; --onnx=int8: detector_int8.onnx,
static int8); --openvino writes OpenVINO IRs detector_<kind>.xml + .bin (from the ONNX export: same names, dynamic
shapes); --tflite writes detector_<kind>.tflite (fixed input size, raw boxes + scores, NMS on the host). int8 is
calibrated on --calib_images letterboxed to --input_size. FaceDetector runs them all. ONNX, OpenVINO and TFLite
need requirements-export.txt in the modern environment (Python >= 3.8, TF 2.x).
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.common.cli import add_max_image_pixels, main_entry, setup_tensorflow  # noqa: E402

PB_NAME = 'detector.pb'
EXPORT_FLAGS = ('onnx', 'openvino', 'tflite')


def export_kinds(flag, text):
    """--<flag>=fp32,int8 -> ['fp32', 'int8'] (None -> []); a UserError for an unknown kind."""
    from lib.common.errors import UserError
    from lib.export.onnx_export import ONNX_KINDS
    from lib.export.openvino_export import OPENVINO_KINDS
    from lib.export.tflite_export import KINDS
    known = {'onnx': ONNX_KINDS, 'openvino': OPENVINO_KINDS, 'tflite': KINDS}[flag]
    kinds = [kind.strip() for kind in (text or '').split(',') if kind.strip()]
    unknown = [kind for kind in kinds if kind not in known]
    if unknown or (text is not None and not kinds):
        raise UserError('--%s=%s: expected comma-separated kinds from %s' % (flag, text, ', '.join(known)))
    return sorted(set(kinds), key=kinds.index)


def check_environment(exports):
    """Fail before freezing when this environment lacks a module the requested ``exports`` ({flag: kinds}) need."""
    from lib.common.optional import import_optional
    needs = [('tf2onnx', 'ONNX export')] if exports['onnx'] else []
    if 'int8' in exports['onnx']:
        needs.append(('onnxruntime.quantization', 'onnxruntime int8 export'))
    if exports['openvino']:
        needs += [('tf2onnx', 'OpenVINO export (from the ONNX export)'), ('openvino', 'OpenVINO export')]
    if 'int8' in exports['openvino']:
        needs.append(('nncf', 'OpenVINO int8 export'))
    for module, purpose in needs:
        import_optional(module, purpose)
    if exports['tflite']:
        from lib.export.tflite_export import check_converter
        check_converter()


def parse_input_size(text, config):
    """--input_size=H,W (or the config's DATA.hin, DATA.win) as checked (H, W)."""
    from lib.common.errors import UserError
    from lib.common.image import check_input_size
    if text is None:
        return check_input_size((config.DATA.hin, config.DATA.win), 'DATA.hin/win')
    try:
        size = tuple(int(v) for v in text.split(','))
    except ValueError:
        raise UserError('--input_size=%s: expected H,W, positive multiples of 32' % text)
    return check_input_size(size, '--input_size')


def calibration_set(args, config):
    """The first --calib_images readable RGB images of --calib_source (default: the config's val list)."""
    from lib.common.errors import UserError
    from lib.common.image import read_image
    from lib.pruning.calibration import calibration_samples
    if args.calib_images < 1:
        raise UserError('--calib_images=%d: int8 needs at least one calibration image' % args.calib_images)
    source = args.calib_source or config.DATA.val_txt_path
    images = [read_image(path, args.max_image_pixels) for path, _ in calibration_samples(source, args.calib_images)]
    images = [image for image in images if image is not None]
    if not images:
        raise UserError('none of the first %d calibration images of %s is readable' % (args.calib_images, source))
    print('int8 calibration: %d images of %s' % (len(images), source))
    return images


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
    parser.add_argument('--onnx', nargs='?', const='fp32', default=None, metavar='KINDS',
                        help='also write detector.onnx (fp32; a bare --onnx) and/or detector_int8.onnx (int8: static '
                             'QDQ quantization of the convolutions, per-channel weights) for the comma-separated '
                             'kinds fp32, int8')
    parser.add_argument('--openvino', default=None, metavar='KINDS',
                        help='also write the OpenVINO IR detector_<kind>.xml + .bin for each of the comma-separated '
                             'kinds fp32, int8 (int8: NNCF post-training quantization of the convolutions)')
    parser.add_argument('--tflite', default=None, metavar='KINDS',
                        help='also write detector_<kind>.tflite for each of the comma-separated kinds fp32, fp16, '
                             'int8 (int8: full-integer post-training quantization)')
    parser.add_argument('--input_size', default=None, metavar='H,W',
                        help='fixed input size of the TFLite files and size of the int8 calibration images '
                             '(default: the config\'s DATA.hin,win)')
    parser.add_argument('--calib_images', type=int, default=100,
                        help='number of calibration images for int8 (default 100)')
    parser.add_argument('--calib_source', default=None,
                        help='calibration images for int8: a sample list or a folder (default: DATA.val_txt_path)')
    parser.add_argument('--overwrite', action='store_true',
                        help='write into an existing non-empty --output_path this tool did not make')
    parser.add_argument('--config', default=os.path.join(ROOT, 'pruned_train_config.py'),
                        help='config module (model structure, anchors, TEST thresholds)')
    add_max_image_pixels(parser)
    return parser.parse_args(argv)


@main_entry(kept='the outputs finished so far stay in --output_path, none half-written (a killed run\'s temp '
            'folders are removed by the next); re-run the same command')
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
    exports = {flag: export_kinds(flag, getattr(args, flag)) for flag in EXPORT_FLAGS}
    check_environment(exports)
    config = load_training_config(args.config)
    input_size = parse_input_size(args.input_size, config)
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
    if any(exports.values()):
        write_exports(args, config, input_size, info['output_path'], exports)


def write_exports(args, config, input_size, pb_path, exports):
    """The ONNX, OpenVINO and TFLite files of ``exports`` ({flag: kinds}) from the frozen graph at ``pb_path``."""
    from lib.export.deploy_graph import calibration_inputs, graph_settings
    from lib.inference.runtimes import load_graph_def
    graph_def = load_graph_def(pb_path)
    images = calibration_set(args, config) if any('int8' in kinds for kinds in exports.values()) else None
    calibration = None if images is None else calibration_inputs(images, input_size,
                                                                 graph_settings(graph_def)['pixel_mean'])
    if exports['onnx'] or exports['openvino']:
        write_onnx_exports(args.output_path, graph_def, exports, calibration)
    for kind in exports['tflite']:
        from lib.export.tflite_export import tflite_name, write_tflite
        path = os.path.join(args.output_path, tflite_name(kind))
        size = write_tflite(graph_def, path, kind, input_size, images)
        print('wrote %s (%.2f MB; input %dx%d, outputs raw boxes + scores, NMS on the host)'
              % (path, size / 1e6, input_size[0], input_size[1]))


def write_onnx_exports(output_path, graph_def, exports, calibration):
    """The ONNX files and the OpenVINO IRs (converted from the fp32 ONNX export) of ``exports``."""
    from lib.common.io import temp_dir
    from lib.export.onnx_export import onnx_name, quantize_onnx, write_onnx
    from lib.export.openvino_export import bin_path, convert_onnx_to_openvino, openvino_name
    with temp_dir(output_path, 'auto_freeze_onnx') as work:
        onnx_path = os.path.join(work, onnx_name('fp32'))
        size = write_onnx(graph_def, onnx_path)
        if 'fp32' in exports['onnx']:
            os.replace(onnx_path, os.path.join(output_path, onnx_name('fp32')))
            onnx_path = os.path.join(output_path, onnx_name('fp32'))
            print('wrote %s (%.2f MB; dynamic batch, height, width)' % (onnx_path, size / 1e6))
        if 'int8' in exports['onnx']:
            path = os.path.join(output_path, onnx_name('int8'))
            size = quantize_onnx(onnx_path, path, calibration)
            print('wrote %s (%.2f MB; static int8 convolutions, dynamic batch, height, width)' % (path, size / 1e6))
        for kind in exports['openvino']:
            path = os.path.join(output_path, openvino_name(kind))
            size = convert_onnx_to_openvino(onnx_path, path, kind, calibration)
            print('wrote %s + %s (%.2f MB; OpenVINO IR %s, dynamic batch, height, width)'
                  % (path, os.path.basename(bin_path(path)), size / 1e6, kind))


if __name__ == '__main__':
    main()
