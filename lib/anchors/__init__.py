"""Anchors: generation (numpy and TF), matching to faces, box encoding."""
