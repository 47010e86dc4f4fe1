"""Sweep analysis (Section 6 of the paper): a sweep's MLflow runs turned into quartile tables,
box plots, critic curves, latent statistics, metric agreement and one HTML report.

    runs.py     read a sweep's runs from MLflow into pandas
    metrics.py  the metrics and what "better" means for each
    tables.py   quartiles, best jobs, metric agreement
    plots.py    the figures (matplotlib)
    report.py   everything into --out and one self-contained report.html

Modules are imported on use (pandas and matplotlib are slow to import for the other commands).
"""
