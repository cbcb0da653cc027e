"""MAC and parameter counts read off a built graph, so dense and slim models are counted by one piece of code.

Every conv of the inference graph (the convs the detection outputs depend on) costs
k_h * k_w * C_in * C_out * H_out * W_out multiply-accumulates at a fixed input size, with C_in/C_out from the
weights and H_out/W_out from the recorded output's static shape (the inference graph's dilated FEM convs are
native Conv2Ds, so nothing is padded beyond SAME). Biases, ReLU, pooling, L2Norm, the FPN product,
decoding and NMS are not counted. Parameters are conv weights + biases.
"""
import collections

import tensorflow.compat.v1 as tf

from lib.common.errors import UserError
from lib.config import inference_graph as build_inference_graph
from lib.model.layers import source_groups
from lib.pruning.sparsity import kept_count

GROUPS = ('backbone', 'extras', 'fpn_fem', 'heads')
NOT_COUNTED = 'not counted: biases, ReLU, pooling, L2Norm, the FPN product, box decoding and NMS'

ConvCount = collections.namedtuple('ConvCount', 'name group kernel c_in c_out out_h out_w macs params input_source '
                                                'channel_group')


def reachable_ops(tensors):
    """Names of every op the given tensors depend on (walking inputs and control inputs)."""
    seen, stack = set(), [t.op for t in tensors]
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return seen


def count_convs(recorder, outputs=None):
    """[ConvCount] of the recorded convs (only those ``outputs`` depend on, when given), in build order."""
    needed = reachable_ops(outputs) if outputs is not None else None
    counts = []
    for conv in recorder.convs:
        if needed is not None and conv.output.op.name not in needed:
            continue
        k_h, k_w, c_in, c_out = conv.weights.get_shape().as_list()
        _, out_h, out_w, _ = conv.output.get_shape().as_list()
        if out_h is None or out_w is None:
            raise ValueError('conv %s has no static output size; build the graph with a fixed input shape'
                             % conv.name)
        counts.append(ConvCount(conv.name, conv.group, k_h, c_in, c_out, out_h, out_w,
                                k_h * k_w * c_in * c_out * out_h * out_w, k_h * k_w * c_in * c_out + c_out,
                                conv.input_source, conv.channel_group))
    return counts


def inference_graph(arch, input_size, config):
    """Fresh graph with the inference model of ``arch`` on a static [1, H, W, 3] input: (graph, outputs, endpoints)."""
    graph = tf.Graph()
    with graph.as_default():
        _, outputs, endpoints = build_inference_graph(config, arch, [1, input_size[0], input_size[1], 3])
    return graph, outputs, endpoints


def count_arch(arch, input_size, config):
    """[ConvCount] of the inference model of ``arch`` at ``input_size`` (H, W) under the training ``config``."""
    _, outputs, endpoints = inference_graph(arch, input_size, config)
    return count_convs(endpoints.recorder, list(outputs.values()))


def planned_kept(arch, ratios, round_to=1):
    """{group: kept count} when ``ratios`` ({group: ratio}) are applied: C - floor(ratio * C), rounded up to a
    multiple of ``round_to`` (never above C)."""
    return {name: kept_count(ratio, arch.channels[name], round_to) for name, ratio in ratios.items()}


def dense_widths(counts):
    """{group: dense channel count} of the groups whose convs are among ``counts``."""
    return {count.channel_group: count.c_out for count in counts if count.channel_group}


def conv_macs(count, channels):
    """MACs of the conv ``count`` (a dense ConvCount) when every group keeps ``channels[group]`` channels: C_out
    is its group's count (heads keep theirs), C_in the sum over the groups its input concatenates (the image's
    3 channels stay). Exact: MACs are k_h * k_w * H * W times C_in * C_out."""
    sources = source_groups(count.input_source)
    c_in = sum(channels[group] for group in sources) if sources else count.c_in
    c_out = channels[count.channel_group] if count.channel_group else count.c_out
    return count.macs // (count.c_in * count.c_out) * c_in * c_out


def total_macs(counts, channels):
    """MACs of the convs of ``counts`` (dense, from a graph) when every group keeps ``channels[group]`` channels
    (an Architecture's ``channels``): what count_arch of that architecture sums to, without building it."""
    return sum(conv_macs(count, channels) for count in counts)


def uniform_ratio(arch, counts, budget, round_to=1, field='budget'):
    """The smallest r whose 'all:r' plan on ``arch`` (every group keeps C - floor(r C), rounded up to a multiple
    of ``round_to``) brings the MACs of ``counts`` (dense, from a graph) to at most ``budget`` of dense: bisection
    on the exact count, which only falls as r grows."""
    dense_total = float(total_macs(counts, arch.channels))

    def fraction(ratio):
        channels = dict(arch.channels)
        channels.update(planned_kept(arch, dict.fromkeys(arch.groups, ratio), round_to))
        return total_macs(counts, channels) / dense_total
    high = min((arch.channels[group] - 1.) / arch.channels[group] for group in arch.groups)
    if fraction(high) > budget:
        raise UserError('%s: %g of the dense MACs is below what one channel per group reaches (%.4f)'
                        % (field, budget, fraction(high)))
    low = 0.
    for _ in range(40):
        middle = (low + high) / 2.
        low, high = (low, middle) if fraction(middle) <= budget else (middle, high)
    return high


def macs_saved(counts, group, kept):
    """MACs saved by keeping ``kept`` of ``group``'s channels (every other group dense): its convs' outputs and
    each consumer's inputs, among the convs of ``counts`` (dense, from a graph)."""
    widths = dense_widths(counts)
    pruned = dict(widths)
    pruned[group] = kept
    return total_macs(counts, widths) - total_macs(counts, pruned)


def _totals(rows):
    totals = collections.OrderedDict((key, sum(row[key] for row in rows))
                                     for key in ('macs_dense', 'macs_kept', 'params_dense', 'params_kept'))
    totals['macs_removed_pct'] = 100. * (1. - totals['macs_kept'] / float(totals['macs_dense'])) if rows else 0.
    return totals


def compare(dense_counts, kept_counts, input_size):
    """The report dict (the `mac.py --json` schema): per-conv dense vs kept, per group, in total."""
    kept_by_name = {count.name: count for count in kept_counts}
    rows = []
    for dense in dense_counts:
        kept = kept_by_name[dense.name]
        rows.append(collections.OrderedDict([
            ('name', dense.name), ('group', dense.group), ('kernel', dense.kernel),
            ('out_h', dense.out_h), ('out_w', dense.out_w),
            ('c_in', dense.c_in), ('c_out', dense.c_out), ('c_in_kept', kept.c_in), ('c_out_kept', kept.c_out),
            ('macs_dense', dense.macs), ('macs_kept', kept.macs),
            ('params_dense', dense.params), ('params_kept', kept.params)]))
    groups = collections.OrderedDict((group, _totals([r for r in rows if r['group'] == group])) for group in GROUPS)
    return collections.OrderedDict([('input_size', list(input_size)), ('layers', rows), ('groups', groups),
                                    ('total', _totals(rows)), ('not_counted', NOT_COUNTED)])


def profiler_conv_flops(graph, op_names=None):
    """TF's profiler FLOPs of the Conv2D ops in ``graph`` (those in ``op_names`` when given): 2 per MAC."""
    options = tf.profiler.ProfileOptionBuilder.float_operation()
    options['output'] = 'none'
    nodes, total = [tf.profiler.profile(graph, cmd='scope', options=options)], 0
    while nodes:
        node = nodes.pop()
        nodes.extend(node.children)
        if (node.float_ops and graph.get_operation_by_name(node.name).type == 'Conv2D'
                and (op_names is None or node.name in op_names)):
            total += node.float_ops
    return total
