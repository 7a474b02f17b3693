"""Acoustic core: association, location, classification and synthetic scenarios.

Every module here except ``management/`` and ``apps.py`` is plain numpy/scipy and
imports nothing from Django, so it can be tested and benchmarked on its own.
"""
