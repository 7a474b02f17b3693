"""Request body parsers for the APIs."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with over-deep nesting a 400 like any other malformed JSON.

    Python's decoder raises RecursionError (not ValueError) for input such as 100 000
    opening brackets, which DRF lets through as a server error.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
