"""Every write of the research app: ingestion, linking, feeds, MOAs and review."""
