"""Evaluation: feature extractors, streaming statistics and one file per metric.

``evaluate.py`` runs the paper's protocol; ``registry.py`` names the metrics (fid,
intra_fid, is, kid, class_accuracy); ``digits.py`` is the offline digits yardstick.
"""
