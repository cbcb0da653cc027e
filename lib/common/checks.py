"""Field checks shared by every file read like a config (the training config, a checkpoint's .arch.json): each
check returns None for a good value, else what was expected (the tail of a one-line error message)."""
import difflib
import math
import numbers

# The graphs compute in float32 and count in int32: a value beyond these becomes inf or fails there, after the
# start checks; the checks reject it instead.
FLOAT32_MAX = 3.4028234663852886e38
INT32_MAX = 2 ** 31 - 1


def real(value):
    """A number (not a bool) that stays finite in float32 (not inf, NaN, or beyond float32's range)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and \
        abs(value) <= FLOAT32_MAX


def int_at_least(minimum):
    """A check: an integer (not a bool) >= ``minimum`` that fits int32."""
    def check(value):
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum
        if ok and value > INT32_MAX:
            return 'an integer in [%d, %d] (the graphs count in int32)' % (minimum, INT32_MAX)
        return None if ok else 'an integer >= %d' % minimum
    return check


def finite_numbers(count, positive=False):
    """A check: a list of ``count`` finite numbers (> 0 with ``positive``): a pixel mean, std, scales."""
    def check(value):
        ok = isinstance(value, (list, tuple)) and len(value) == count and all(real(v) for v in value) and \
            (not positive or all(v > 0 for v in value))
        return None if ok else '%d finite numbers%s' % (count, ' > 0' if positive else '')
    return check


def kind(*types, **extra):
    """A check: an instance of one of ``types``."""
    name = extra.get('name') or ' or '.join(t.__name__ if t is not type(None) else 'None' for t in types)
    return lambda value: None if isinstance(value, types) else name


def int_or_ints(value):
    """MODEL.fpn_dims: one channel count or one per level (the network decides how many)."""
    if int_at_least(1)(value) is None:
        return None
    ok = isinstance(value, (list, tuple)) and value and all(int_at_least(1)(v) is None for v in value)
    return None if ok else 'an integer >= 1 or a list of them'


def did_you_mean(name, known):
    """A message tail: the closest of ``known`` to a misspelt ``name``, else all of them."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return '; did you mean %s?' % close[0] if close else '; known: %s' % ', '.join(sorted(known))


def optional(check):
    """A check that also lets None through (a field that may be null)."""
    return lambda value: None if value is None else check(value)
