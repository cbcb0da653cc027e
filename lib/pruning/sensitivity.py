"""Sensitivity analysis: prune each group alone (its lowest-norm filters) and watch the val loss (and AP) move.

For every pruning group (backbone, extras, FPN levels, FEM convs) and ratio k, the floor(k * C) filters with the
smallest filter-group norm are zeroed in memory (weights and bias of each of the group's convs, what hard pruning
does), the val loss (and, given a WIDER val set, the easy/medium/hard AP of the inference outputs built on the same
variables) is measured and the group is put back. One graph and session serve every variant. MACs saved are the
group's and its consumers' share of the dense graph's counted MACs. Users read the table (and plot) to choose
config.TRAIN.pruned_ratio per group, or let lib.pruning.budget choose them for a MAC budget.
"""
import collections
import contextlib

import numpy as np
import tensorflow.compat.v1 as tf

from lib import checkpoint
from lib.common.image import MAX_IMAGE_PIXELS
from lib.common.io import atomic_path
from lib.config import anchor_spec, target_assigner
from lib.inference.detector import run_detection
from lib.inference.runtimes import graph_pad_value
from lib.model.dsfd import OUTPUT_NAMES, detect
from lib.model.loss import detection_losses
from lib.pruning import macs
from lib.pruning.calibration import calibration_samples, load_letterboxed
from lib.pruning.registry import build_model_graph
from lib.pruning.selection import weight_norms

METRIC_LABELS = {'val_loss': 'val loss', 'ap_easy': 'AP easy', 'ap_medium': 'AP medium', 'ap_hard': 'AP hard'}


def val_batches(source, count, input_size, arch, config, batch_size=4, max_image_pixels=MAX_IMAGE_PIXELS):
    """Batches {'images', '<shot>_labels', '<shot>_boxes'} of the first ``count`` val images, letterboxed as
    validation does."""
    assigner = target_assigner(config, arch, input_size)
    samples = [load_letterboxed(path, boxes, input_size, config.DATA.PIXEL_MEAN, max_image_pixels)
               for path, boxes in calibration_samples(source, count)]
    batches = []
    for start in range(0, len(samples), batch_size):
        chunk = samples[start:start + batch_size]
        targets = [assigner(boxes) for _, boxes in chunk]
        batch = {key: np.stack([t[key] for t in targets]) for key in targets[0]}
        batch['images'] = np.stack([image for image, _ in chunk])
        batches.append(batch)
    return batches


class _Probe(object):
    """The dense model restored from a checkpoint: a mean val loss over fixed batches and, on the same
    variables, the inference outputs (detect_batch) that a frozen graph of it would give."""

    def __init__(self, ckpt_prefix, arch, config, batches):
        self.graph, self.images, endpoints, self.registry = build_model_graph(
            arch, config.DATA.PIXEL_MEAN, config.DATA.PIXEL_STD)
        self.batches = batches
        with self.graph.as_default():
            variables = tf.global_variables()
            checkpoint.check_matches(ckpt_prefix, checkpoint.read_shapes(ckpt_prefix), variables)
            self.targets = {}
            for shot in arch.shots:
                self.targets[shot + '_labels'] = tf.placeholder(tf.int32, [None, None])
                self.targets[shot + '_boxes'] = tf.placeholder(tf.float32, [None, None, 4])
            losses = detection_losses(endpoints, self.targets, config.ANCHOR.neg_pos_ratio)
            self.loss = losses['cls_loss'] + losses['box_loss']
            outputs = detect(self.images, endpoints, arch, anchor_spec(config), config.ANCHOR.encode_scale,
                             config.TEST)
            self.outputs = [outputs[name] for name in OUTPUT_NAMES]
            self.session = tf.Session(graph=self.graph)
            checkpoint.restore(self.session, tf.train.Saver(var_list=variables), ckpt_prefix)
        self.pad_value = graph_pad_value(self.session)

    def mean_loss(self):
        total = 0.
        for batch in self.batches:
            feed = {self.images: batch['images']}
            feed.update({placeholder: batch[key] for key, placeholder in self.targets.items()})
            total += self.session.run(self.loss, feed)
        return total / len(self.batches)

    def detect_batch(self, images, score_threshold, input_size):
        """FaceDetector.detect_batch on the current (possibly zeroed) variables."""
        return run_detection(self.session, self.images, self.outputs, images, score_threshold, input_size,
                             self.pad_value)

    @contextlib.contextmanager
    def without(self, layer, pruned):
        """The filters ``pruned`` of group ``layer`` zeroed (weights and bias of each of its convs) inside the
        block, restored after it."""
        variables = [v for conv in self.registry[layer].convs for v in (conv.weights, conv.biases)]
        originals = self.session.run(variables)
        zeroed = [array.copy() for array in originals]
        for array in zeroed:
            array[..., pruned] = 0
        try:
            for variable, value in zip(variables, zeroed):
                variable.load(value, self.session)
            yield
        finally:
            for variable, value in zip(variables, originals):
                variable.load(value, self.session)

    def close(self):
        self.session.close()


def _measure(probe, ap_set):
    """{'val_loss'} (+ 'ap_easy', 'ap_medium', 'ap_hard' when ``ap_set``) of the probe's current weights."""
    values = collections.OrderedDict([('val_loss', float(probe.mean_loss()))])
    if ap_set is not None:
        values.update(('ap_' + setting, ap) for setting, ap in ap_set.average_precision(probe.detect_batch).items())
    return values


def analyse(ckpt_prefix, arch, config, batches, input_size, ratios, layers=None, ap_set=None):
    """Every pruning group of ``arch`` (or those of ``layers``) pruned alone at each of ``ratios``:
    {'baseline_val_loss', 'macs_dense', 'rows': [{layer, ratio, pruned, kept, macs_saved, macs_saved_pct,
    val_loss}]} of the checkpoint (architecture ``arch``) on the val ``batches``; with ``ap_set``
    (a lib.evaluation.subset.ValSubset) also baseline_ap_{easy,medium,hard}, ap_images, ap_input_size and
    ap_{easy,medium,hard} per row."""
    counts = macs.count_arch(arch, input_size, config)
    dense_macs = sum(c.macs for c in counts)
    probe = _Probe(ckpt_prefix, arch, config, batches)
    try:
        with probe.graph.as_default():
            norms = weight_norms(probe.session, probe.registry)
        baseline = _measure(probe, ap_set)
        rows = []
        for layer in arch.groups if layers is None else layers:
            order = np.argsort(norms[layer], kind='stable')
            for ratio in ratios:
                kept = macs.planned_kept(arch, {layer: ratio})[layer]
                pruned = order[:arch.channels[layer] - kept]
                saved = macs.macs_saved(counts, layer, kept)
                row = collections.OrderedDict([
                    ('layer', layer), ('ratio', ratio), ('pruned', len(pruned)), ('kept', kept),
                    ('macs_saved', saved), ('macs_saved_pct', 100. * saved / dense_macs)])
                with probe.without(layer, pruned):
                    row.update(_measure(probe, ap_set))
                rows.append(row)
    finally:
        probe.close()
    result = collections.OrderedDict(('baseline_' + key, value) for key, value in baseline.items())
    if ap_set is not None:
        result.update([('ap_images', len(ap_set.images)), ('ap_input_size', list(ap_set.input_size))])
    result.update([('macs_dense', dense_macs), ('rows', rows)])
    return result


def metrics(result):
    """The measured columns of ``result``: 'val_loss', then the AP ones when a WIDER set was given."""
    return [key for key in METRIC_LABELS if 'baseline_' + key in result]


def format_table(result):
    keys = metrics(result)
    baseline = ', '.join('%s %.4f' % (METRIC_LABELS[key], result['baseline_' + key]) for key in keys)
    if 'ap_images' in result:
        baseline += ' (AP on %d WIDER val images at %dx%d)' % ((result['ap_images'],) + tuple(result['ap_input_size']))
    lines = ['baseline %s; dense MACs %s' % (baseline, '{:,}'.format(result['macs_dense'])),
             '%-24s %6s %7s %6s %18s %8s' % ('layer', 'ratio', 'pruned', 'kept', 'MACs saved', 'saved %')
             + ''.join(' %10s' % METRIC_LABELS[key] for key in keys)]
    for row in result['rows']:
        lines.append('%-24s %6.2f %7d %6d %18s %7.2f%%' % (
            row['layer'], row['ratio'], row['pruned'], row['kept'], '{:,}'.format(row['macs_saved']),
            row['macs_saved_pct']) + ''.join(' %10.4f' % row[key] for key in keys))
    return '\n'.join(lines)


def _panel(axis, result, key):
    """One metric against the ratio pruned, one line per layer (from the baseline at 0), baseline dashed."""
    baseline = result['baseline_' + key]
    for layer in collections.OrderedDict((row['layer'], None) for row in result['rows']):
        rows = [row for row in result['rows'] if row['layer'] == layer]
        axis.plot([0.] + [r['ratio'] for r in rows], [baseline] + [r[key] for r in rows], marker='o', label=layer)
    axis.axhline(baseline, linestyle='--', color='gray')
    axis.set_xlabel('fraction of the layer\'s filters pruned (lowest norm first)')
    axis.set_ylabel(METRIC_LABELS[key])


def plot(result, path):
    """A PNG at ``path``: val loss (and each AP) against the ratio pruned, one panel per metric."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # drawn on its own canvas: the process's
    from matplotlib.figure import Figure                         # matplotlib backend is left alone
    keys = metrics(result)
    columns = min(2, len(keys))
    rows = -(-len(keys) // columns)
    figure = Figure(figsize=(10 * columns, 6 * rows))
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis, key in zip(axes.ravel(), keys):
        _panel(axis, result, key)
    axes[0, 0].legend(fontsize='x-small', ncol=4)  # up to 52 groups
    figure.suptitle('Per-layer pruning sensitivity')
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format='png')
