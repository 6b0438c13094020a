"""Metrics: Frechet distance and the offline digits classifier."""
