"""Run a frozen detector over a WIDER-layout image set and write WIDER submission files.

    python tools/wider.py --model=export/detector.pb --data_dir=data/WIDER/WIDER_val --result=results/val

Writes RESULT/<event>/<name>.txt: the image name, the box count, then `x y w h score` lines, best first
(what tools/ap_eval/evaluation.py and the official WIDER tools read), and nothing else into RESULT: its record
(RESULT.pruned_dsfd.json) and locks (RESULT.shard-I-of-N.lock) lie beside it. Unreadable images are reported
and written with 0 detections. --protocol=original runs the original's tools/wider.py instead: its passes (always
multi-scale under a 1 Mpx cap, no flip, each pass stretched to a multiple of 32), its box voting (which drops boxes
no other pass confirms) and its file layout (name line <event>/<file>, w = x2 - x1 + 1, scores with 3 decimals).

Several processes or machines share the images with --shard=I/N (shard I of N of the sorted image list, into
the same RESULT folder); --workers=K starts K such processes on this machine. --is_show draws the boxes above
0.3 in a window, or, without a display, into --show_dir.
"""
import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.common.cli import add_max_image_pixels, main_entry, setup_logging, setup_tensorflow  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', required=True,
                        help='detector written by tools/auto_freeze.py: detector.pb, detector.onnx, '
                             'detector_int8.onnx, detector_<kind>.xml (OpenVINO, its .bin beside it) or detector_<kind>.tflite')
    parser.add_argument('--data_dir', required=True, help='WIDER-layout folder with images/<event>/<name>.jpg')
    parser.add_argument('--result', required=True, help='output folder of <event>/<name>.txt files')
    parser.add_argument('--list', default=None, dest='list_file',
                        help='run only the images of wider_face_val.mat or a val.txt (default: every image)')
    parser.add_argument('--protocol', choices=('default', 'original'), default='default',
                        help="'original': the original's tools/wider.py protocol (multi-scale, 1 Mpx cap, no flip, "
                             'single boxes dropped by its box voting); not combinable with --multi_scale, --flip, '
                             '--max_size')
    parser.add_argument('--multi_scale', action='store_true',
                        help='DSFD test protocol: add half-size and enlarged passes, merged by box voting')
    parser.add_argument('--flip', action='store_true', help='add a mirrored pass (box voting merges it)')
    parser.add_argument('--max_size', type=int, default=None,
                        help='pixel-count cap of any pass; larger images are shrunk (default 2040000 = 1700 x 1200)')
    parser.add_argument('--max_boxes', type=int, default=750,
                        help='most boxes an image keeps after box voting (default: %(default)s, the original\'s '
                             'TEST.max_detect)')
    parser.add_argument('--score', type=float, default=0.,
                        help='drop boxes under this score (the graph applies config.TEST.score_thres already)')
    parser.add_argument('--threads', type=int, default=None, help='TensorFlow threads (default: all cores)')
    parser.add_argument('--overwrite', action='store_true',
                        help='write into an existing non-empty --result folder this tool did not make')
    parser.add_argument('--skip_existing', action='store_true', help='keep result files already written (resume)')
    parser.add_argument('--shard', type=parse_shard, default=(0, 1), metavar='I/N',
                        help='run only shard I of N of the sorted image list (0 <= I < N); all shards may write '
                             'into the same --result folder')
    parser.add_argument('--workers', type=int, default=1,
                        help='run this many processes here, each on a shard of the images (default: 1)')
    parser.add_argument('--no_progress', action='store_true', help='no progress bar')
    parser.add_argument('--is_show', nargs='?', const=True, default=False, type=parse_switch, metavar='VALUE',
                        help='draw the boxes scoring above %.1f on each image: in a window (any key: next), or '
                             'without a display into --show_dir; a VALUE of False, 0 or no turns it off' % SHOW_SCORE)
    parser.add_argument('--show_dir', default=None,
                        help='folder for the --is_show pictures (default: RESULT.show beside --result); giving it '
                             'writes pictures even where a window could open')
    add_max_image_pixels(parser)
    return parser.parse_args(argv)


SHOW_SCORE = 0.3  # --is_show draws boxes above this score, as the original does
SWITCH_VALUES = {'': True, 'true': True, '1': True, 'yes': True, 'y': True, 'on': True,
                 'false': False, '0': False, 'no': False, 'n': False, 'off': False, 'none': False}


def parse_switch(text):
    """An optional flag value: true / 1 / yes / on, or false / 0 / no / off / none (any case)."""
    value = SWITCH_VALUES.get(text.strip().lower())
    if value is None:
        raise argparse.ArgumentTypeError('%r: expected True, False, 1, 0, yes or no' % text)
    return value


def parse_shard(text):
    """'I/N' -> (I, N) with 0 <= I < N."""
    match = re.match(r'^\s*(\d+)\s*/\s*(\d+)\s*$', text)
    if not match or not int(match.group(1)) < int(match.group(2)):
        raise argparse.ArgumentTypeError('%r: expected I/N with 0 <= I < N, e.g. 0/4' % text)
    return int(match.group(1)), int(match.group(2))


def worker_argv(args, shard):
    """The command line of one --workers process: these arguments on ``shard`` (index, count)."""
    argv = ['--model', args.model, '--data_dir', args.data_dir, '--result', args.result,
            '--max_boxes', str(args.max_boxes), '--score', repr(args.score), '--shard', '%d/%d' % shard,
            '--max_image_pixels', str(args.max_image_pixels),
            '--no_progress']
    for flag in ('list_file', 'max_size', 'threads'):
        if getattr(args, flag) is not None:
            argv += ['--' + ('list' if flag == 'list_file' else flag), str(getattr(args, flag))]
    argv += ['--' + flag for flag in ('multi_scale', 'flip', 'skip_existing') if getattr(args, flag)]
    if args.protocol != 'default':
        argv.append('--protocol=' + args.protocol)
    if args.is_show:
        argv += ['--is_show', '--show_dir', args.show_dir]
    return [sys.executable, os.path.abspath(__file__)] + argv


def run_workers(args):
    """Shard I/N split K ways: process k runs shard I + N k of N K. Waits for all; the first failure ends the
    others and is reported in one line (the process's own message is printed above it)."""
    from lib.common.errors import UserError
    index, count = args.shard
    if args.threads is None:
        args.threads = max(1, (os.cpu_count() or 1) // args.workers)
    shards = [(index + count * k, count * args.workers) for k in range(args.workers)]
    processes = [subprocess.Popen(worker_argv(args, shard)) for shard in shards]
    try:
        while True:
            for shard, process in zip(shards, processes):
                if process.poll():
                    raise UserError('--workers: the process of shard %d/%d failed (exit code %d)'
                                    % (shard + (process.returncode,)))
            if all(process.poll() == 0 for process in processes):
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        for process in processes:
            process.wait()  # each says what it kept
        sys.stderr.write('interrupted: the result files the %d processes wrote to %s are kept; resume with the same '
                         'command plus --skip_existing\n' % (args.workers, args.result))
        sys.exit(130)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait()
    print('%d processes wrote their shards to %s' % (args.workers, args.result))


def show_function(args):
    """The --is_show callback of run_wider, or None: a window when one can open and --show_dir is not given, else
    pictures written to --show_dir/<event>/<file>."""
    if not args.is_show:
        return None
    from lib.inference.visualize import can_open_windows, draw_detections, write_rgb_image

    def drawn(image, detections):
        return draw_detections(image, detections[detections[:, 4] > SHOW_SCORE])

    if args.show_dir is None and can_open_windows():
        import cv2

        def show(item, image, detections):
            cv2.imshow('wider', cv2.cvtColor(drawn(image, detections), cv2.COLOR_RGB2BGR))
            cv2.waitKey(0)
        return show

    def save(item, image, detections):
        write_rgb_image(os.path.join(args.show_dir, item.event, os.path.basename(item.path)),
                        drawn(image, detections))
    return save


def check_flags(args):
    """The flag combinations, and the outputs (--result, --show_dir) claimed before any work."""
    from lib.common.errors import UserError
    from lib.common.outputs import check_disjoint, claim_output_dir
    from lib.inference.visualize import can_open_windows
    from lib.inference.wider import DEFAULT_MAX_PIXELS, claim_result_dir
    if args.protocol == 'original' and (args.multi_scale or args.flip or args.max_size is not None):
        raise UserError('--protocol=original fixes its own passes (multi-scale, no flip, 1 Mpx cap); drop '
                        '--multi_scale / --flip / --max_size, or use the default protocol')
    args.max_size = DEFAULT_MAX_PIXELS if args.max_size is None else args.max_size
    if args.max_size < 32 * 32:
        raise UserError('--max_size=%d: expected a pixel count >= 1024' % args.max_size)
    inputs = {'--data_dir': args.data_dir, '--model': args.model}
    if args.list_file:
        inputs['--list'] = args.list_file
    outputs = {'--result': args.result}
    if args.is_show:
        if args.show_dir is None and (args.workers > 1 or not can_open_windows()):
            args.show_dir = os.path.abspath(args.result).rstrip(os.sep) + '.show'
        if args.show_dir is not None:
            outputs['--show_dir'] = args.show_dir
            check_disjoint({'--result': args.result}, {'--show_dir': args.show_dir})
            check_disjoint({'--show_dir': args.show_dir}, {'--result': args.result})
    check_disjoint(inputs, outputs)
    claim_result_dir(args.result, args.overwrite)
    if args.show_dir is not None:
        args.show_dir = claim_output_dir(args.show_dir, 'wider --is_show', args.overwrite, '--show_dir')
        print('--is_show: the pictures go to %s' % args.show_dir)


@main_entry
def main(argv=None):
    args = parse_args(argv)
    setup_logging()
    try:
        return run(args)
    except KeyboardInterrupt:
        sys.stderr.write('interrupted before any result was written; nothing to resume\n')
        sys.exit(130)


def run(args):
    setup_tensorflow()
    from lib.common.errors import UserError
    from lib.inference.wider import WiderStopped, list_images, result_lock, run_wider, shard_items
    if args.workers < 1:
        raise UserError('--workers=%d: expected a number of processes >= 1' % args.workers)
    items = list_images(args.data_dir, args.list_file)  # a clash of result names is found before any work
    check_flags(args)
    if args.workers > 1:
        return run_workers(args)
    from lib.inference.detector import FaceDetector
    if args.shard != (0, 1):
        items = shard_items(items, *args.shard)
    with result_lock(args.result, *args.shard):
        with FaceDetector(args.model, threads=args.threads) as detector:
            try:
                summary = run_wider(detector, items, args.result, args.score, args.max_size, args.multi_scale,
                                    args.flip, args.skip_existing, progress=not args.no_progress,
                                    max_boxes=args.max_boxes, original=args.protocol == 'original',
                                    show=show_function(args),
                                    max_image_pixels=args.max_image_pixels)
            except WiderStopped as stop:
                if not stop.interrupted:
                    raise
                sys.stderr.write('%s\n' % stop)
                sys.exit(130)
    rate = summary.written / summary.seconds if summary.seconds > 0 else 0.
    print('wrote %d result files to %s in %.1f s (%.2f images/s)%s'
          % (summary.written, args.result, summary.seconds, rate,
             '; kept %d existing' % summary.skipped if summary.skipped else ''))
    if summary.unreadable:
        print('%d unreadable images written with 0 detections: %s%s'
              % (len(summary.unreadable), ', '.join(summary.unreadable[:5]),
                 ', ...' if len(summary.unreadable) > 5 else ''))


if __name__ == '__main__':
    main()
