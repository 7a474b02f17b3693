"""Stored audio evidence: one permission rule, one audited playback path (docs/privacy.md)."""
