"""WIDER FACE evaluation: the official ground truth, result files, and the easy/medium/hard AP protocol."""
