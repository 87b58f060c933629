"""Generators for realistic KIM mails and KBV-Muster 86 scans (tests and benchmarks)."""
