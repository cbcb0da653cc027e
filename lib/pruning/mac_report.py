"""Text form of a MAC report (the dict of lib.pruning.macs.compare): per-conv table by group, then totals."""
from lib.pruning.macs import GROUPS

GROUP_TITLES = {'backbone': 'backbone (VGG16 + fc6/fc7)', 'extras': 'extras', 'fpn_fem': 'FPN + FEM',
                'heads': 'heads (inferred shot)'}


def _n(value):
    return '{:,}'.format(value)


def _pct(kept, dense):
    return '%6.1f%%' % (100. * kept / dense) if dense else '     -'


def _arrow(dense, kept):
    """'512' when unchanged, '512>256' when pruned."""
    return '%d' % dense if dense == kept else '%d>%d' % (dense, kept)


def pruned_mac_percent(report):
    """The original mac.py's figure: MACs kept by the backbone + extras as a percentage of their dense MACs
    (its denominator, 127,822,233,600 at 640x640 for the full-width network)."""
    groups = [report['groups'][group] for group in ('backbone', 'extras')]
    dense = sum(g['macs_dense'] for g in groups)
    return 100. * sum(g['macs_kept'] for g in groups) / dense if dense else 0.


def format_report(report, title):
    """The per-layer table grouped backbone / extras / fpn_fem / heads, group subtotals and the totals."""
    header = '%-30s %4s %9s %9s %18s %18s %7s' % ('layer', 'k', 'C_in', 'C_out', 'MACs dense', 'MACs kept',
                                                    'kept')
    lines = [title, 'input %dx%d' % tuple(report['input_size']), header, '-' * len(header)]
    for group in GROUPS:
        rows = [row for row in report['layers'] if row['group'] == group]
        if not rows:
            continue
        lines.append('[%s]' % GROUP_TITLES[group])
        for row in rows:
            lines.append('  %-28s %4d %9s %9s %18s %18s %7s' % (
                row['name'], row['kernel'], _arrow(row['c_in'], row['c_in_kept']),
                _arrow(row['c_out'], row['c_out_kept']), _n(row['macs_dense']), _n(row['macs_kept']),
                _pct(row['macs_kept'], row['macs_dense'])))
        totals = report['groups'][group]
        lines.append('  %-28s %4s %9s %9s %18s %18s %7s' % (
            'subtotal', '', '', '', _n(totals['macs_dense']), _n(totals['macs_kept']),
            _pct(totals['macs_kept'], totals['macs_dense'])))
    total = report['total']
    lines += ['-' * len(header),
              'MACs dense    %s' % _n(total['macs_dense']),
              'MACs kept     %s' % _n(total['macs_kept']),
              'MACs removed  %s (%.2f%%)' % (_n(total['macs_dense'] - total['macs_kept']), total['macs_removed_pct']),
              'params dense  %s' % _n(total['params_dense']),
              'params kept   %s (conv weights + biases of the inference graph)' % _n(total['params_kept']),
              report['not_counted'] + '.',
              'Pruned MAC : %f %%  (backbone + extras MACs kept / dense, as the original mac.py prints it)'
              % pruned_mac_percent(report)]
    return '\n'.join(lines)
