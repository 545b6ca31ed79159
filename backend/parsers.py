"""The API's JSON parser: DRF's, with a limit on nesting depth as well as size.

Python's JSON parser recurses once per level: `"[" * 1000 + "]" * 1000` raised
RecursionError, a 500 on endpoints anyone can reach (issue 8, item 2). Our deepest real
body (a sync batch of records with their interference items) nests five levels.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError


def nesting_depth(data: Any) -> int:
    """How many arrays and objects deep `data` goes; iterative, so any depth is safe."""
    deepest = 0
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > settings.MAX_JSON_DEPTH:
            return deepest  # enough to refuse; no need to walk the rest
        stack.extend((child, depth + 1) for child in children)
    return deepest


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        too_deep = ParseError(_("The JSON body is nested too deeply."))
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if nesting_depth(data) > settings.MAX_JSON_DEPTH:
            raise too_deep
        return data
