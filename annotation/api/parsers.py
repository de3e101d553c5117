"""Request parsers. DRF's JSON parser lets RecursionError out of json.loads
(a body of 5,000 nested brackets is a few kilobytes), which answers 500; this
one answers 400 like any other malformed body."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
