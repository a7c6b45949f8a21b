"""The Spark engine: running the rendered models on a Spark session."""
