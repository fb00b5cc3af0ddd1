"""Worker entry point, logging and telemetry set-up."""
