"""What is measured of a model: scores (evaluation), reports and plots, and speed (benchmark)."""
