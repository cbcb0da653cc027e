"""Pruned DSFD library. Importing it quiets TensorFlow's C++ start-up logging (users see their own output)."""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
