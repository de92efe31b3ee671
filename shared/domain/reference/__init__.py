"""Model-reference records: one normalised record type fed by every on-disk and HTTP format."""
