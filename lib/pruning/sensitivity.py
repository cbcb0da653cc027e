"""Sensitivity analysis: prune each layer alone (its lowest-norm filters) and watch the val loss move.

For every prunable layer and ratio k, the floor(k * C) filters with the smallest filter-group norm are
zeroed in memory (weights and bias, what hard pruning does), the val loss is measured and the layer is put
back. MACs saved are the layer's and its consumers' share of the dense graph's counted MACs. Users read the
table (and plot) to choose config.TRAIN.pruned_ratio per layer.
"""
import collections

import numpy as np
import tensorflow.compat.v1 as tf

from lib.anchors.generator import anchor_spec_from_config
from lib.anchors.matcher import AnchorTargetAssigner
from lib.helper.io import atomic_path
from lib.model.arch import PRUNABLE_LAYERS
from lib.model.loss import detection_losses
from lib.pruning import checkpoint_io, macs
from lib.pruning.calibration import calibration_samples, load_resized
from lib.pruning.registry import build_model_graph
from lib.pruning.selection import filter_norms

DEFAULT_RATIOS = (0.25, 0.5, 0.75)


def val_batches(source, count, input_size, arch, config, batch_size=4):
    """Batches {'images', '<shot>_labels', '<shot>_boxes'} of the first ``count`` val images (resized)."""
    assigner = AnchorTargetAssigner(input_size, anchor_spec_from_config(config.ANCHOR), arch.shots,
                                    config.ANCHOR.positive_iou, config.ANCHOR.encode_scale)
    samples = [load_resized(path, boxes, input_size) for path, boxes in calibration_samples(source, count)]
    batches = []
    for start in range(0, len(samples), batch_size):
        chunk = samples[start:start + batch_size]
        targets = [assigner(boxes) for _, boxes in chunk]
        batch = {key: np.stack([t[key] for t in targets]) for key in targets[0]}
        batch['images'] = np.stack([image for image, _ in chunk])
        batches.append(batch)
    return batches


class _LossProbe(object):
    """The dense model restored from a checkpoint, with a mean val loss over fixed batches."""

    def __init__(self, ckpt_prefix, arch, config, batches):
        self.graph, self.images, endpoints, self.registry = build_model_graph(
            arch, config.DATA.PIXEL_MEAN, config.DATA.PIXEL_STD)
        self.batches = batches
        with self.graph.as_default():
            variables = tf.global_variables()
            checkpoint_io.check_matches(ckpt_prefix, checkpoint_io.read_shapes(ckpt_prefix), variables)
            self.targets = {}
            for shot in arch.shots:
                self.targets[shot + '_labels'] = tf.placeholder(tf.int32, [None, None])
                self.targets[shot + '_boxes'] = tf.placeholder(tf.float32, [None, None, 4])
            losses = detection_losses(endpoints, self.targets, config.ANCHOR.neg_pos_ratio)
            self.loss = losses['cls_loss'] + losses['box_loss']
            self.session = tf.Session(graph=self.graph)
            tf.train.Saver(var_list=variables).restore(self.session, ckpt_prefix)

    def mean_loss(self):
        total = 0.
        for batch in self.batches:
            feed = {self.images: batch['images']}
            feed.update({placeholder: batch[key] for key, placeholder in self.targets.items()})
            total += self.session.run(self.loss, feed)
        return total / len(self.batches)

    def loss_without(self, layer, pruned):
        """Val loss with the filters ``pruned`` of ``layer`` zeroed; the layer is restored afterwards."""
        conv = self.registry[layer].conv
        originals = self.session.run([conv.weights, conv.biases])
        zeroed = [array.copy() for array in originals]
        for array in zeroed:
            array[..., pruned] = 0
        try:
            for variable, value in zip((conv.weights, conv.biases), zeroed):
                variable.load(value, self.session)
            return self.mean_loss()
        finally:
            for variable, value in zip((conv.weights, conv.biases), originals):
                variable.load(value, self.session)

    def close(self):
        self.session.close()


def analyse(ckpt_prefix, arch, config, batches, input_size, ratios=DEFAULT_RATIOS, layers=PRUNABLE_LAYERS):
    """{'baseline_val_loss', 'macs_dense', 'rows': [{layer, ratio, pruned, kept, macs_saved, macs_saved_pct,
    val_loss}]} of the checkpoint (architecture ``arch``) on the val ``batches``."""
    norms = filter_norms(checkpoint_io.read_checkpoint(ckpt_prefix), build_model_graph(arch)[3])
    counts = macs.count_arch(arch, input_size, config)
    dense_macs = sum(c.macs for c in counts)
    probe = _LossProbe(ckpt_prefix, arch, config, batches)
    try:
        baseline = probe.mean_loss()
        rows = []
        for layer in layers:
            order = np.argsort(norms[layer], kind='stable')
            for ratio in ratios:
                kept = macs.planned_kept(arch, {layer: ratio})[layer]
                pruned = order[:arch.channels[layer] - kept]
                saved = macs.macs_saved(counts, layer, kept)
                rows.append(collections.OrderedDict([
                    ('layer', layer), ('ratio', ratio), ('pruned', len(pruned)), ('kept', kept),
                    ('macs_saved', saved), ('macs_saved_pct', 100. * saved / dense_macs),
                    ('val_loss', float(probe.loss_without(layer, pruned)))]))
    finally:
        probe.close()
    return {'baseline_val_loss': float(baseline), 'macs_dense': dense_macs, 'rows': rows}


def format_table(result):
    lines = ['baseline val loss %.4f, dense MACs %s'
             % (result['baseline_val_loss'], '{:,}'.format(result['macs_dense'])),
             '%-24s %6s %7s %6s %18s %8s %10s' % ('layer', 'ratio', 'pruned', 'kept', 'MACs saved', 'saved %',
                                                 'val loss')]
    for row in result['rows']:
        lines.append('%-24s %6.2f %7d %6d %18s %7.2f%% %10.4f' % (
            row['layer'], row['ratio'], row['pruned'], row['kept'], '{:,}'.format(row['macs_saved']),
            row['macs_saved_pct'], row['val_loss']))
    return '\n'.join(lines)


def plot(result, path):
    """Val loss against the ratio pruned, one line per layer, baseline dashed; a PNG at ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=(10, 6))
    for layer in collections.OrderedDict((row['layer'], None) for row in result['rows']):
        rows = [row for row in result['rows'] if row['layer'] == layer]
        losses = [result['baseline_val_loss']] + [r['val_loss'] for r in rows]
        axis.plot([0.] + [r['ratio'] for r in rows], losses, marker='o', label=layer)
    axis.axhline(result['baseline_val_loss'], linestyle='--', color='gray')
    axis.set_xlabel('fraction of the layer\'s filters pruned (lowest norm first)')
    axis.set_ylabel('val loss')
    axis.set_title('Per-layer pruning sensitivity')
    axis.legend(fontsize='small', ncol=2)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format='png')
    plt.close(figure)
