"""Statistics for MUSHRA listening tests (ITU-R BS.1534-3).

The library API is the set of pure functions in the submodules:

- :mod:`analysis.data`       tidy ratings table from a database, our tidy CSV or webMUSHRA's CSV
- :mod:`analysis.screening`  post-screening of listeners (BS.1534-3 hidden-reference rule)
- :mod:`analysis.stats`      descriptives, Friedman, pairwise Wilcoxon (Holm), mixed model
- :mod:`analysis.gains`      gap closure and relative improvement with bootstrap CIs
- :mod:`analysis.simulate`   synthetic listener panels
- :mod:`analysis.validation` calibration of the statistics by simulation
- :mod:`analysis.report`     the whole report (markdown, HTML, JSON, plots) and CI gates
"""

__version__ = "0.1.0"
