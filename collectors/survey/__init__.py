"""The survey source: an answers file read into self-reported evidence."""
