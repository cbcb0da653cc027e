"""The house rules, read off the code: lib/ imports only point down (no cycle between packages or modules, lazy
imports included), lib/ never imports a script, tools/, bench/, tests/ or a config module, and importing any lib
module has no side effect."""
import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, 'lib')
FORBIDDEN = ('tools', 'bench', 'tests', 'conftest', 'mac', 'demo', 'pruned_train')


def lib_modules():
    """{dotted name: file path} of every module under lib/."""
    modules = {}
    for folder, _, names in os.walk(LIB):
        for name in names:
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, '.')
                modules[dotted[:-len('.__init__')] if dotted.endswith('.__init__') else dotted] = path
    return modules


def imported_names(path):
    """Every module named by an import anywhere in the file (top level, inside functions, lazy or not)."""
    names = []
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            names.extend('%s.%s' % (node.module, alias.name) for alias in node.names)
    return names


def module_graph():
    """{lib module: set of lib modules it imports}."""
    modules = lib_modules()
    graph = {}
    for name, path in modules.items():
        graph[name] = {target for target in imported_names(path) if target in modules and target != name}
    return graph


def package_of(module):
    """The unit of layering: lib.<package> for modules in a sub-package, the module itself for lib.<module>."""
    parts = module.split('.')
    return '.'.join(parts[:2])


def find_cycle(graph):
    """One cycle of ``graph`` as a list of nodes, or None."""
    state = {}

    def visit(node, path):
        state[node] = 'open'
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 'open':
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target, path + [target])
                if cycle:
                    return cycle
        state[node] = 'done'
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [node])
            if cycle:
                return cycle
    return None


def test_lib_never_imports_scripts_tools_bench_tests_or_configs():
    offenders = []
    for name, path in lib_modules().items():
        for target in imported_names(path):
            top = target.split('.')[0]
            if top in FORBIDDEN or top.endswith('_config'):
                offenders.append('%s imports %s' % (name, target))
    assert not offenders, offenders


def test_no_module_imports_back_up():
    graph = module_graph()
    assert sum(len(targets) for targets in graph.values()) > 50  # the graph really was read
    assert find_cycle(graph) is None, 'module import cycle: %s' % ' -> '.join(find_cycle(graph))


def test_no_package_imports_back_up():
    packages = {}
    for module, targets in module_graph().items():
        edges = packages.setdefault(package_of(module), set())
        edges.update(package_of(t) for t in targets if package_of(t) != package_of(module) and t != 'lib')
    assert {'lib.common', 'lib.model', 'lib.pruning', 'lib.inference', 'lib.evaluation'} <= set(packages)
    cycle = find_cycle(packages)
    assert cycle is None, 'package import cycle (one of these imports points back up): %s' % ' -> '.join(cycle)
    assert not packages['lib.common'] - {'lib.common'}  # the bottom layer imports nothing of the project


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': set()}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None


SIDE_EFFECTS = r"""
import os, sys, pkgutil, importlib
sys.path.insert(0, %(root)r)
import cv2, matplotlib, scipy.io, tqdm  # third-party imports may change the environment themselves (cv2 does)
import tensorflow as tf
from tensorflow.python import tf2
before = (dict(os.environ), matplotlib.get_backend(), tf2.enabled(), tf.get_logger().level)
import lib
names = sorted(m.name for m in pkgutil.walk_packages(lib.__path__, 'lib.'))
for name in names:
    importlib.import_module(name)
after = (dict(os.environ), matplotlib.get_backend(), tf2.enabled(), tf.get_logger().level)
assert len(before) == len(after) == 4
changed = [label for label, a, b in zip(('environment', 'matplotlib backend', 'TF2 behaviour', 'TF log level'),
                                        before, after) if a != b]
print(len(names), 'modules;', 'changed: ' + ', '.join(changed) if changed else 'no side effect')
"""


def test_importing_lib_has_no_side_effect():
    env = {key: value for key, value in os.environ.items() if not key.startswith('TF_')}  # as a user has it
    env['MPLBACKEND'] = 'agg'
    proc = subprocess.run([sys.executable, '-c', SIDE_EFFECTS % {'root': ROOT}], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    count, _, verdict = proc.stdout.strip().splitlines()[-1].partition(' modules;')
    assert int(count) >= 40 and verdict.strip() == 'no side effect', proc.stdout


SUBPROCESS_CALLS = ('run', 'call', 'check_call', 'check_output')


def untimed_calls(source):
    """(line, what) of subprocess calls without ``timeout=`` and of fixed sleeps of 0.5 s or more in ``source``
    (a test waits on a condition, polling briefly, instead of sleeping and hoping)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = getattr(node.func.value, 'id', None)
        if owner == 'subprocess' and node.func.attr in SUBPROCESS_CALLS and \
                not any(k.arg == 'timeout' for k in node.keywords):
            found.append((node.lineno, 'subprocess.%s without timeout' % node.func.attr))
        seconds = getattr(node.args[0], 'value', getattr(node.args[0], 'n', None)) if node.args else None
        if owner == 'time' and node.func.attr == 'sleep' and isinstance(seconds, (int, float)) and seconds >= 0.5:
            found.append((node.lineno, 'time.sleep(%s)' % seconds))
    return found


def test_every_subprocess_call_in_tests_has_a_timeout_and_no_fixed_sleeps():
    assert untimed_calls('import subprocess, time\nsubprocess.run(["x"])\ntime.sleep(2)\n') \
        == [(2, 'subprocess.run without timeout'), (3, 'time.sleep(2)')]
    bad = []
    for name in sorted(os.listdir(os.path.join(ROOT, 'tests'))):
        if name.endswith('.py'):
            with open(os.path.join(ROOT, 'tests', name)) as f:
                bad += ['tests/%s:%d: %s' % (name, line, what) for line, what in untimed_calls(f.read())]
    assert not bad, bad
