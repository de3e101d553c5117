"""Request parsers. DRF's JSON parser lets RecursionError out of json.loads
(a body of 5,000 nested brackets is a few kilobytes), which answers 500, and
takes NUL characters and lone surrogates the database cannot store; this one
answers 400 for both, naming the field (annotation/json_input.py). DRF's strict
mode already refuses NaN and Infinity."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from annotation.json_input import MAX_DEPTH, json_value_check


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep") from None
        json_value_check(data)
        return data
