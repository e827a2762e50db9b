"""The names of the PNGs plots.write_plots writes into a results folder: the one list that the plotting, the
report's sections (which show them) and the tests read."""

LATENCY_PNGS = ("latency_histogram.png", "latency_over_time.png", "latency_percentiles.png")
BANDWIDTH_PNG = "bandwidth_analysis.png"
WRITE_STUDY_PNG = "write_study.png"
STREAMING_PNG = "streaming.png"
HEADLINE_PNG = "headline_figures.png"
MAP_STUDY_PNG = "mapping_study.png"
TRANSPORTS_PNG = "transports.png"
REFERENCE_PNG = "reference.png"
COUNTERS_PNG = "counters.png"
NOTIFICATION_PNG = "notification.png"
