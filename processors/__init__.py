"""Processors: decode and validate, enrich, sessionise and batch events for the sinks."""
