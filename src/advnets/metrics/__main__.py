"""`python -m advnets.metrics NAME [DATA_ROOT]`: prepare feature extractor NAME (train and cache a classifier on
first use) and print its weight hash and test accuracy (advnets.metrics.features.main)."""

from advnets.metrics.features import main

raise SystemExit(main())
