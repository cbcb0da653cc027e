"""`make mutation`: cosmic-ray over the modules of mutation/modules.txt, each run against the tests that cover it.

Each module has its own session (mutation_run/<module>.sqlite): an interrupted run continues where it stopped,
and a session starts afresh when the module, its tests or its line in modules.txt change. Mutants run in a copy of
the checkout (mutation_run/tree), never in it. Skipped before any test runs: mutants of message text (inside a
raise, a logging / warnings / print call or a docstring) and operators that make no plausible bug in this code
(bit shifts, powers, modulo and floor division put in for arithmetic). Survivors not triaged in
mutation/equivalent.txt go to mutation_run/survivors.txt; the scores, killed / (mutants - skipped - equivalent),
per module and per package, to mutation_run/scores.txt. Modern environment only (cosmic-ray, requirements-dev.txt).
"""
import argparse
import ast
import hashlib
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, 'mutation_run')
TREE = os.path.join(RUN, 'tree')
MODULES = os.path.join(ROOT, 'mutation', 'modules.txt')
EQUIVALENT = os.path.join(ROOT, 'mutation', 'equivalent.txt')
EXCLUDED_OPERATORS = ['core/ReplaceBinaryOperator_.*_(RShift|LShift|Pow|Mod|FloorDiv)$',
                      'core/ReplaceBinaryOperator_(RShift|LShift|Pow|Mod)_.*',
                      'core/ReplaceUnaryOperator_.*_Invert$', 'core/ReplaceUnaryOperator_Invert_.*']
MESSAGE_CALLS = {'debug', 'info', 'warning', 'warn', 'error', 'exception', 'critical', 'print', 'write'}


def read_modules(path=MODULES):
    """[(module path, pytest arguments)] of modules.txt (``module | args``; # comments)."""
    modules = []
    for number, line in enumerate(open(path), 1):
        line = line.split('#', 1)[0].strip() if line.lstrip().startswith('#') else line.strip()
        if not line:
            continue
        if '|' not in line:
            sys.exit('%s line %d: expected "module.py | pytest arguments"' % (path, number))
        module, args = (part.strip() for part in line.split('|', 1))
        modules.append((module, args))
    return modules


def read_equivalent(path=EQUIVALENT):
    """{(module, operator, occurrence): why} of equivalent.txt."""
    triaged = {}
    for line in open(path):
        if line.strip() and not line.startswith('#'):
            key, why = line.split('|', 1)
            module, operator, occurrence = key.split()
            triaged[(module, operator, int(occurrence))] = why.strip()
    return triaged


def copy_tree():
    """A fresh copy of the checkout's files (tracked and new, plus the built kernels) in mutation_run/tree."""
    listed = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard', '-z'], cwd=ROOT,
                            check=True, stdout=subprocess.PIPE).stdout.decode().split('\0')
    kernels = [os.path.relpath(os.path.join(folder, name), ROOT)
               for folder, _, names in os.walk(os.path.join(ROOT, 'lib')) for name in names if name.endswith('.so')]
    if os.path.isdir(TREE):
        shutil.rmtree(TREE)
    for name in [n for n in listed if n and os.path.isfile(os.path.join(ROOT, n))] + kernels:
        os.makedirs(os.path.dirname(os.path.join(TREE, name)), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, name), os.path.join(TREE, name))


def test_command(args):
    return '%s -m pytest -x -q -p no:cacheprovider %s' % (sys.executable, args)


def fingerprint(module, args):
    digest = hashlib.sha256(('%s|%s|%s' % (module, args, EXCLUDED_OPERATORS)).encode())
    for name in [module] + [a for a in args.split() if a.endswith('.py')]:
        digest.update(open(os.path.join(ROOT, name), 'rb').read())
    return digest.hexdigest()


def message_lines(module):
    """Line numbers of message text in ``module``: raise statements, logging/print calls, docstrings."""
    lines = set()
    for node in ast.walk(ast.parse(open(os.path.join(ROOT, module)).read())):
        call = isinstance(node, ast.Call) and (getattr(node.func, 'attr', None) or getattr(node.func, 'id', None))
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and \
            isinstance(node.value.value, str)
        if isinstance(node, ast.Raise) or call in MESSAGE_CALLS or docstring:
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def write_config(path, module, args, timeout):
    with open(path, 'w') as out:
        out.write('[cosmic-ray]\nmodule-path = "%s"\ntimeout = %.0f\nexcluded-modules = []\ntest-command = "%s"\n\n'
                  '[cosmic-ray.distributor]\nname = "local"\n\n[cosmic-ray.filters.operators-filter]\n'
                  'exclude-operators = [%s]\n' % (module, timeout, test_command(args).replace('"', '\\"'),
                                                  ', '.join('"%s"' % e for e in EXCLUDED_OPERATORS)))


def start_session(module, args, session, config):
    """A new session: the tests must pass unmutated (their time sets the timeout), then cosmic-ray init and the
    two skip filters."""
    began = time.time()
    result = subprocess.run(test_command(args), shell=True, cwd=TREE)
    if result.returncode:
        sys.exit('%s: its tests fail without a mutation (%s); fix them first' % (module, args))
    write_config(config, module, args, max(60., 10 * (time.time() - began)))
    for path in (session,):
        if os.path.exists(path):
            os.remove(path)
    bin_dir = os.path.dirname(sys.executable)
    subprocess.run([os.path.join(bin_dir, 'cosmic-ray'), 'init', config, session], cwd=TREE, check=True)
    subprocess.run([os.path.join(bin_dir, 'cr-filter-operators'), session, config], cwd=TREE, check=True)
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult
    skipped = message_lines(module)
    with use_db(session, WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            if any(m.start_pos[0] in skipped for m in item.mutations):
                db.set_result(item.job_id, WorkResult(output='message text', worker_outcome=WorkerOutcome.SKIPPED))


def summary(module, session, triaged):
    """(killed, counted, survivor lines) of a session; counted excludes skipped, pending and equivalent mutants."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome
    killed, counted, survivors = 0, 0, []
    with use_db(session, WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            mutation = item.mutations[0]
            key = (module, mutation.operator_name, mutation.occurrence)
            if key in triaged:
                continue
            counted += 1
            if result.test_outcome == TestOutcome.SURVIVED:
                survivors.append('%s %s %d  (line %d)\n%s' % (key + (mutation.start_pos[0], result.diff or '')))
            else:
                killed += 1
    return killed, counted, survivors


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--only', default='', help='run only the modules whose path contains this text')
    parser.add_argument('--hours', type=float, default=12., help='stop (resumable) after this many hours')
    flags = parser.parse_args()
    os.makedirs(RUN, exist_ok=True)
    copy_tree()
    deadline = time.time() + 3600 * flags.hours
    triaged = read_equivalent()
    scores, survivors = [], []
    for module, args in read_modules():
        if flags.only not in module:
            continue
        name = module.replace('/', '.')[:-3]
        session, config, key_path = (os.path.join(RUN, name + ext) for ext in ('.sqlite', '.toml', '.key'))
        key = fingerprint(module, args)
        if not (os.path.exists(session) and os.path.exists(key_path) and open(key_path).read() == key):
            start_session(module, args, session, config)
            with open(key_path, 'w') as out:
                out.write(key)
        left = deadline - time.time()
        if left > 0:
            try:
                subprocess.run([os.path.join(os.path.dirname(sys.executable), 'cosmic-ray'), 'exec', config,
                                session], cwd=TREE, timeout=left)
            except subprocess.TimeoutExpired:
                print('time budget spent: run make mutation again to continue')
                copy_tree()  # the file being mutated when time ran out
        killed, counted, found = summary(module, session, triaged)
        scores.append((module, killed, counted))
        survivors += found
    lines = ['%-36s %4d / %4d killed  %s' % (m, k, c, '%.1f%%' % (100. * k / c) if c else '-') for m, k, c in scores]
    packages = sorted(set(os.path.dirname(m) for m, _, _ in scores))
    for package in packages:
        k = sum(s[1] for s in scores if os.path.dirname(s[0]) == package)
        c = sum(s[2] for s in scores if os.path.dirname(s[0]) == package)
        lines.append('%-36s %4d / %4d killed  %s' % (package + '/', k, c, '%.1f%%' % (100. * k / c) if c else '-'))
    stamp = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    with open(os.path.join(RUN, 'scores.txt'), 'w') as out:
        out.write('# %s (pending mutants not counted)\n%s\n' % (stamp, '\n'.join(lines)))
    with open(os.path.join(RUN, 'survivors.txt'), 'w') as out:
        out.write('# %s: %d surviving mutants (not in mutation/equivalent.txt)\n\n%s' % (
            stamp, len(survivors), '\n\n'.join(survivors)))
    print('\n'.join(lines))
    print('survivors: %s' % os.path.join(RUN, 'survivors.txt'))


if __name__ == '__main__':
    main()
