"""Pruned DSFD: the library behind the scripts (importing it has no side effect; entry scripts set TensorFlow up)."""
