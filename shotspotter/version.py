# Shown in the lower right corner of every page; bump on release.
VERSION = "2026.11.0"
