"""stress/programs/json_bench.py - a JSON encoder and decoder, round-tripping a built document.

Owns: our own JSON benchmark (issue 14, item 7).  The subset has no json module, so the
program carries its own: `encode` serialises None, bools, ints, floats (repr, as Python's json
does), strings (escapes for quotes, backslashes and control characters, \\uXXXX for the rest
below 0x20) and lists and dicts (keys must be str) to a compact JSON text; `decode` parses it
back with a recursive-descent parser over the text (string scanning with find and slices,
numbers to int or float, nesting).  Each round builds a document in code from a seeded generator
(a new seed per round): records with names, tags, nested lists and dicts, floats and escapes.  Checks: decode(encode(x))
== x, encoding again gives the same text, a hand-written text with whitespace and every escape
decodes to the expected value, and malformed texts raise ValueError.

Usage: json_bench.py [ROUNDS]   (documents of 40 records encoded, decoded and encoded again;
default 4, the timing size is 300)
Exit status 0 when every check holds, 1 otherwise, 2 on bad arguments.
"""
import sys
from bench_args import parse_size

ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
UNESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
HEX = "0123456789abcdefABCDEF"


def encode_str(s, out):
    out.append('"')
    start = 0
    for i in range(len(s)):
        c = s[i]
        if c == '"' or c == "\\" or c < " ":
            if start < i:
                out.append(s[start:i])
            esc = ESCAPES.get(c)
            if esc is None:
                esc = "\\u%04x" % ord(c)
            out.append(esc)
            start = i + 1
    if start < len(s):
        out.append(s[start:])
    out.append('"')


def encode_value(value, out):
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        encode_str(value, out)
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        if value != value or value in (float("inf"), -float("inf")):
            raise ValueError("out of range float values are not JSON compliant")
        out.append(repr(value))
    elif isinstance(value, (list, tuple)):
        out.append("[")
        first = True
        for item in value:
            if not first:
                out.append(",")
            first = False
            encode_value(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"keys must be str, not {type(key).__name__}")
            if not first:
                out.append(",")
            first = False
            encode_str(key, out)
            out.append(":")
            encode_value(item, out)
        out.append("}")
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode(value):
    out = []
    encode_value(value, out)
    return "".join(out)


class Decoder:
    def __init__(self, text):
        self.text = text
        self.pos = 0

    def fail(self, what):
        raise ValueError(f"{what} at position {self.pos}")

    def skip_space(self):
        text = self.text
        pos = self.pos
        while pos < len(text) and text[pos] in " \t\n\r":
            pos += 1
        self.pos = pos

    def value(self):
        self.skip_space()
        if self.pos >= len(self.text):
            self.fail("unexpected end of text")
        c = self.text[self.pos]
        if c == "{":
            return self.object()
        if c == "[":
            return self.array()
        if c == '"':
            return self.string()
        if c == "-" or c.isdigit():
            return self.number()
        for word, result in (("null", None), ("true", True), ("false", False)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return result
        self.fail(f"unexpected character {c!r}")

    def object(self):
        result = {}
        self.pos += 1
        self.skip_space()
        if self.text[self.pos:self.pos + 1] == "}":
            self.pos += 1
            return result
        while True:
            self.skip_space()
            if self.text[self.pos:self.pos + 1] != '"':
                self.fail("expected a string key")
            key = self.string()
            self.skip_space()
            if self.text[self.pos:self.pos + 1] != ":":
                self.fail("expected ':'")
            self.pos += 1
            result[key] = self.value()
            self.skip_space()
            c = self.text[self.pos:self.pos + 1]
            self.pos += 1
            if c == "}":
                return result
            if c != ",":
                self.pos -= 1
                self.fail("expected ',' or '}'")

    def array(self):
        result = []
        self.pos += 1
        self.skip_space()
        if self.text[self.pos:self.pos + 1] == "]":
            self.pos += 1
            return result
        while True:
            result.append(self.value())
            self.skip_space()
            c = self.text[self.pos:self.pos + 1]
            self.pos += 1
            if c == "]":
                return result
            if c != ",":
                self.pos -= 1
                self.fail("expected ',' or ']'")

    def string(self):
        text = self.text
        pos = self.pos + 1
        parts = []
        while True:
            quote = text.find('"', pos)
            if quote < 0:
                self.fail("unterminated string")
            slash = text.find("\\", pos, quote)
            if slash < 0:
                parts.append(text[pos:quote])
                self.pos = quote + 1
                return "".join(parts)
            parts.append(text[pos:slash])
            esc = text[slash + 1:slash + 2]
            if esc == "u":
                digits = text[slash + 2:slash + 6]
                if len(digits) != 4 or not all([d in HEX for d in digits]):
                    self.pos = slash
                    self.fail("bad \\u escape")
                parts.append(chr(int(digits, 16)))
                pos = slash + 6
            else:
                plain = UNESCAPES.get(esc)
                if plain is None:
                    self.pos = slash
                    self.fail("bad escape")
                parts.append(plain)
                pos = slash + 2

    def number(self):
        text = self.text
        start = self.pos
        pos = start
        if text[pos] == "-":
            pos += 1
        while pos < len(text) and text[pos].isdigit():
            pos += 1
        is_float = False
        if pos < len(text) and text[pos] == ".":
            is_float = True
            pos += 1
            while pos < len(text) and text[pos].isdigit():
                pos += 1
        if pos < len(text) and text[pos] in "eE":
            is_float = True
            pos += 1
            if pos < len(text) and text[pos] in "+-":
                pos += 1
            while pos < len(text) and text[pos].isdigit():
                pos += 1
        literal = text[start:pos]
        if literal == "-" or literal.endswith(".") or literal[-1] in "eE+-":
            self.fail("bad number")
        self.pos = pos
        if is_float:
            return float(literal)
        return int(literal)


def decode(text):
    d = Decoder(text)
    result = d.value()
    d.skip_space()
    if d.pos != len(text):
        d.fail("extra data")
    return result


class Lcg:
    """A small deterministic generator (the same numbers under every interpreter)."""

    def __init__(self, seed):
        self.state = seed

    def next(self, bound):
        self.state = (self.state * 1103515245 + 12345) % 2147483648
        return (self.state >> 8) % bound


WORDS = ["alpha", "beta", "gamma", "delta", "tab\there", 'quote"d', "back\\slash", "line\nbreak",
         "bell\x07", "plain text with spaces", "", "z"]


def build_document(n, seed):
    rng = Lcg(seed)
    records = []
    for i in range(n):
        tags = [WORDS[rng.next(len(WORDS))] for _ in range(rng.next(5))]
        record = {
            "id": i,
            "name": f"record-{i:05d}",
            "score": rng.next(100000) / 64.0 - 500.0,
            "ratio": (rng.next(1000) + 1) / 7.0,
            "active": rng.next(2) == 1,
            "parent": None if i == 0 else rng.next(i),
            "tags": tags,
            "position": {"x": rng.next(2000) - 1000, "y": rng.next(2000) - 1000, "z": rng.next(10) * 0.5},
            "history": [[j, rng.next(50), j * 0.25] for j in range(rng.next(4))],
        }
        records.append(record)
    return {"format": "tally-json-bench", "version": 3, "count": n, "records": records,
            "empty": {"list": [], "dict": {}, "text": ""}, "big": -9007199254740993, "tiny": 1e-300}


def checksum(text):
    total = 0
    for i in range(0, len(text), 7):
        total = (total * 31 + ord(text[i])) % 1000000007
    return total


RECORDS = 40
HAND_TEXT = ' { "a" : [ 1 , -2.5e3 , true , false , null ] ,\n "s" : "\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u001f" , "e" : { } , "l" : [ ] } '
HAND_VALUE = {"a": [1, -2500.0, True, False, None], "s": '"\\/\b\f\n\r\tA\x1f', "e": {}, "l": []}
BAD_TEXTS = ["", "[1, 2", '{"a" 1}', '"abc', "[1,]x", "tru", "-", '"\\q"', "{1: 2}", "[1] 2", '"\\u12G4"']


def main():
    rounds = parse_size(sys.argv, 4, "json_bench.py")
    ok = True
    total_chars = 0
    total_sum = 0
    for r in range(rounds):
        doc = build_document(RECORDS, 20261207 + r)
        text = encode(doc)
        back = decode(text)
        again = encode(back)
        if back != doc or again != text:
            ok = False
            print(f"json: round {r}: the round trip differs")
        total_chars += len(text)
        total_sum = (total_sum + checksum(text)) % 1000000007
        if r == 0:
            print("json: first record " + encode(doc["records"][0]))
    print(f"json: {rounds} documents of {RECORDS} records, {total_chars} characters, checksum {total_sum}, "
          + ("every round trip equal" if ok else "round trips DIFFER"))

    hand = decode(HAND_TEXT)
    ok = ok and hand == HAND_VALUE
    print("json: hand-written text " + ("decoded" if hand == HAND_VALUE else "WRONG: " + repr(hand)))
    rejected = 0
    for bad in BAD_TEXTS:
        try:
            decode(bad)
        except ValueError:
            rejected += 1
    ok = ok and rejected == len(BAD_TEXTS)
    print(f"json: {rejected} of {len(BAD_TEXTS)} malformed texts rejected")
    try:
        encode({1: 2})
        ok = False
    except TypeError as e:
        print(f"json: {e}")
    print("json: " + ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
