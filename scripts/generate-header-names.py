#!/usr/bin/env python3
"""Generate the header-name tables of Sources/SIPSyntax/Message/SIPHeaderName.swift.

The header fields the library knows by name live in HEADERS below: canonical (long) spelling,
compact form (RFC 3261 §7.3.3 and the IANA "Header Fields" registry), whether the grammar is a
comma-separated list (§7.3.1), the Swift identifier, and the RFC that defines the header. A
header's id is its position in HEADERS plus one (0 is "not a known header"); ids are
in-memory only (never stored or sent), so inserting a row renumbers the others harmlessly.

From that table the script writes four regions of SIPHeaderName.swift, each between
`// BEGIN GENERATED <region> by scripts/generate-header-names.py — do not edit` and
`// END GENERATED <region>`; everything outside the markers is hand-written and left alone:

  table   `KnownHeader.all`, the entries in id order (RFCs other than 3261 as comments)
  lookup  `KnownHeader.lookup(_:_:)` on a buffer: name bytes to id, ASCII case-insensitive, long
          and compact forms: a switch on the compact letter for one byte, else on the length,
          then the lowercased name read as little-endian 8-byte words (`lowercasedWord`,
          hand-written below the region) compared with the constants of each name of that length
  ids     the named id constants of the parser's hot path (`KnownHeader.via` ...), integer
          literals so that reading one costs no `swift_once`; HOT_PATH_IDS lists them
  names   the public `SIPHeaderName.accept` ... constants

Usage (Python 3, standard library only), from anywhere:

  python3 scripts/generate-header-names.py          rewrite the regions in place
  python3 scripts/generate-header-names.py --check  exit 0 if the file is up to date, else 1

scripts/test.sh runs `--check`, so an edit inside the markers, or to HEADERS without
regenerating, fails the tests. To add a header: add its row to HEADERS (alphabetical, as the
long names are), run the script, then add its value check to HeaderChecks (the test
`everyKnownHeaderHasACheck` asks for one). The output passes `swift format lint`: lines stay
within 120 columns, and a comment that would not fit at the end of its line goes above it.
"""

import argparse
import pathlib
import sys
from typing import NamedTuple, Optional


class Header(NamedTuple):
    name: str  # canonical spelling, the long form
    compact: Optional[str]  # compact form (one letter), or None
    is_list: bool  # several values may share a line, comma-separated
    swift: str  # identifier of the Swift constants (SIPHeaderName.x, KnownHeader.x)
    rfc: int  # the RFC that defines the header


# fmt: off
HEADERS = [
    #      long name               compact  list   Swift identifier        RFC
    Header("Accept",               None,    True,  "accept",               3261),
    Header("Accept-Contact",       "a",     True,  "acceptContact",        3841),
    Header("Accept-Encoding",      None,    True,  "acceptEncoding",       3261),
    Header("Accept-Language",      None,    True,  "acceptLanguage",       3261),
    Header("Alert-Info",           None,    True,  "alertInfo",            3261),
    Header("Allow",                None,    True,  "allow",                3261),
    Header("Allow-Events",         "u",     True,  "allowEvents",          6665),
    Header("Authentication-Info",  None,    False, "authenticationInfo",   3261),
    Header("Authorization",        None,    False, "authorization",        3261),
    Header("Call-ID",              "i",     False, "callID",               3261),
    Header("Call-Info",            None,    True,  "callInfo",             3261),
    Header("Contact",              "m",     True,  "contact",              3261),
    Header("Content-Disposition",  None,    False, "contentDisposition",   3261),
    Header("Content-Encoding",     "e",     True,  "contentEncoding",      3261),
    Header("Content-Language",     None,    True,  "contentLanguage",      3261),
    Header("Content-Length",       "l",     False, "contentLength",        3261),
    Header("Content-Type",         "c",     False, "contentType",          3261),
    Header("CSeq",                 None,    False, "cseq",                 3261),
    Header("Date",                 None,    False, "date",                 3261),
    Header("Error-Info",           None,    True,  "errorInfo",            3261),
    Header("Event",                "o",     False, "event",                6665),
    Header("Expires",              None,    False, "expires",              3261),
    Header("From",                 "f",     False, "from",                 3261),
    Header("Identity",             "y",     False, "identity",             8224),
    Header("Identity-Info",        "n",     False, "identityInfo",         4474),
    Header("In-Reply-To",          None,    True,  "inReplyTo",            3261),
    Header("Max-Forwards",         None,    False, "maxForwards",          3261),
    Header("MIME-Version",         None,    False, "mimeVersion",          3261),
    Header("Min-Expires",          None,    False, "minExpires",           3261),
    Header("Min-SE",               None,    False, "minSE",                4028),
    Header("Organization",         None,    False, "organization",         3261),
    Header("P-Asserted-Identity",  None,    True,  "pAssertedIdentity",    3325),
    Header("P-Preferred-Identity", None,    True,  "pPreferredIdentity",   3325),
    Header("Path",                 None,    True,  "path",                 3327),
    Header("Priority",             None,    False, "priority",             3261),
    Header("Privacy",              None,    False, "privacy",              3323),
    Header("Proxy-Authenticate",   None,    False, "proxyAuthenticate",    3261),
    Header("Proxy-Authorization",  None,    False, "proxyAuthorization",   3261),
    Header("Proxy-Require",        None,    True,  "proxyRequire",         3261),
    Header("RAck",                 None,    False, "rack",                 3262),
    Header("Reason",               None,    True,  "reason",               3326),
    Header("Record-Route",         None,    True,  "recordRoute",          3261),
    Header("Refer-To",             "r",     False, "referTo",              3515),
    Header("Referred-By",          "b",     False, "referredBy",           3892),
    Header("Reject-Contact",       "j",     True,  "rejectContact",        3841),
    Header("Replaces",             None,    False, "replaces",             3891),
    Header("Reply-To",             None,    False, "replyTo",              3261),
    Header("Request-Disposition",  "d",     True,  "requestDisposition",   3841),
    Header("Require",              None,    True,  "require",              3261),
    Header("Retry-After",          None,    False, "retryAfter",           3261),
    Header("Route",                None,    True,  "route",                3261),
    Header("RSeq",                 None,    False, "rseq",                 3262),
    Header("Server",               None,    False, "server",               3261),
    Header("Service-Route",        None,    True,  "serviceRoute",         3608),
    Header("Session-Expires",      "x",     False, "sessionExpires",       4028),
    Header("Subject",              "s",     False, "subject",              3261),
    Header("Subscription-State",   None,    False, "subscriptionState",    6665),
    Header("Supported",            "k",     True,  "supported",            3261),
    Header("Timestamp",            None,    False, "timestamp",            3261),
    Header("To",                   "t",     False, "to",                   3261),
    Header("Unsupported",          None,    True,  "unsupported",          3261),
    Header("User-Agent",           None,    False, "userAgent",            3261),
    Header("Via",                  "v",     True,  "via",                  3261),
    Header("Warning",              None,    True,  "warning",              3261),
    Header("WWW-Authenticate",     None,    False, "wwwAuthenticate",      3261),
]
# fmt: on

# The headers with an id constant `KnownHeader.<swift>` (used by the parser's hot path), in the
# order they are written.
HOT_PATH_IDS = [
    "Via", "From", "To", "Call-ID", "CSeq", "Content-Length", "Max-Forwards", "Contact",
    "Content-Type", "Route", "Record-Route", "Timestamp",
]

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / "Sources/SIPSyntax/Message/SIPHeaderName.swift"
SCRIPT = "scripts/generate-header-names.py"
LINE_LENGTH = 120  # .swift-format
BASE_RFC = 3261  # not named in the comments of the table


def validate():
    """Fails on a table the generated Swift could not represent."""
    problems = []
    lower = [h.name.lower() for h in HEADERS]
    if len(HEADERS) > 255:
        problems.append("more than 255 headers: the ids are UInt8")
    for h in HEADERS:
        if len(h.name) < 2 or not all(c.isascii() and (c.isalnum() or c in "-.!%*_+`'~") for c in h.name):
            problems.append(f"{h.name!r}: not a token of two or more ASCII characters")
        if h.compact is not None and not (len(h.compact) == 1 and "a" <= h.compact <= "z"):
            problems.append(f"{h.name}: compact form {h.compact!r} is not one lowercase letter")
        if not (h.swift.isidentifier() and h.swift.isascii() and h.swift[0].islower()):
            problems.append(f"{h.name}: {h.swift!r} is not a lowerCamelCase Swift identifier")
    for what, values in (
        ("name", lower),
        ("compact form", [h.compact for h in HEADERS if h.compact]),
        ("Swift identifier", [h.swift for h in HEADERS]),
    ):
        dups = sorted({v for v in values if values.count(v) > 1})
        if dups:
            problems.append(f"duplicate {what}: {', '.join(dups)}")
    if lower != sorted(lower):
        problems.append("HEADERS is not in alphabetical order (case-insensitive)")
    for name in HOT_PATH_IDS:
        if name not in [h.name for h in HEADERS]:
            problems.append(f"HOT_PATH_IDS: {name} is not in HEADERS")
    if len(set(HOT_PATH_IDS)) != len(HOT_PATH_IDS):
        problems.append("HOT_PATH_IDS has a duplicate")
    if problems:
        sys.exit(f"{SCRIPT}: " + "\n  ".join(problems))


def ids():
    return {h.name: i + 1 for i, h in enumerate(HEADERS)}


def with_comment(indent, code, comment):
    """`code  // comment` if it fits in LINE_LENGTH, else the comment on its own line above."""
    line = f"{indent}{code}  // {comment}"
    if len(line) <= LINE_LENGTH:
        return [line]
    return [f"{indent}// {comment}", f"{indent}{code}"]


def region_table():
    entries = []
    for h in HEADERS:
        compact = f'UInt8(ascii: "{h.compact}")' if h.compact else "nil"
        code = f'        Entry(name: "{h.name}", compact: {compact}, isList: {"true" if h.is_list else "false"}),'
        entries.append((code, f"RFC {h.rfc}" if h.rfc != BASE_RFC else None))
    # The RFC comments line up: at least 4 spaces after the longest entry, at a multiple of 4.
    longest = max(len(code) for code, _ in entries)
    column = (longest + 4 + 3) // 4 * 4
    lines = ["    // swift-format-ignore", "    static let all: [Entry] = ["]
    lines += [code.ljust(column) + f"// {rfc}" if rfc else code for code, rfc in entries]
    lines.append("    ]")
    return lines


def word_literal(value):
    digits = f"{value:016X}"
    return "0x" + "_".join(digits[i : i + 4] for i in range(0, 16, 4))


def words(name):
    """The lowercased name as little-endian 64-bit words, zero-padded: what `lowercasedWord` reads."""
    b = name.lower().encode("ascii")
    return [int.from_bytes(b[i : i + 8], "little") for i in range(0, len(b), 8)]


def region_lookup():
    id_of = ids()
    longest = max(len(h.name) for h in HEADERS)
    word_count = (longest + 7) // 8
    lines = [
        "    /// The id (1-based) of the header named by `p[range]`, long or compact form, any case.",
        "    /// Generated: a switch on the length, then the name, lowercased and read 8 bytes at a time as",
        "    /// little-endian words, compared with each name of that length.",
        "    static func lookup(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> UInt8? {",
        "        let n = range.count",
        f"        guard n >= 1, n <= {longest}, range.lowerBound >= 0, range.upperBound <= p.count,"
        " let base = p.baseAddress else {",
        "            return nil",
        "        }",
        "        let start = base + range.lowerBound",
        "        if n == 1 {",
        "            switch ASCII.lower(start[0]) {",
    ]
    for h in sorted((h for h in HEADERS if h.compact), key=lambda h: h.compact):
        lines.append(f'            case UInt8(ascii: "{h.compact}"): return {id_of[h.name]}')
    lines += [
        "            default: return nil",
        "            }",
        "        }",
        "        // Bytes of the buffer from the name's start: a whole word is loaded when they suffice.",
        "        let avail = p.count - range.lowerBound",
        "        let w0 = lowercasedWord(start, 0, n, avail)",
    ]
    for k in range(1, word_count):
        lines.append(f"        let w{k} = n > {8 * k} ? lowercasedWord(start, {8 * k}, n, avail) : 0")
    lines.append("        switch n {")
    for length in sorted({len(h.name) for h in HEADERS if len(h.name) > 1}):
        lines.append(f"        case {length}:")
        for h in HEADERS:  # in id order
            if len(h.name) != length:
                continue
            test = " && ".join(f"w{k} == {word_literal(w)}" for k, w in enumerate(words(h.name)))
            lines += with_comment("            ", f"if {test} {{ return {id_of[h.name]} }}", h.name.lower())
    lines += [
        "        default: break",
        "        }",
        "        return nil",
        "    }",
    ]
    return lines


def region_ids():
    by_name = {h.name: h for h in HEADERS}
    id_of = ids()
    return [f"    static let {by_name[n].swift}: UInt8 = {id_of[n]}" for n in HOT_PATH_IDS]


def region_names():
    # One declaration (swift-format would split it: OneVariableDeclarationPerLine), its bindings
    # filled greedily into lines of at most LINE_LENGTH columns.
    items = [f'{h.swift} = SIPHeaderName("{h.name}")' for h in HEADERS]
    items = [item + ("," if i < len(items) - 1 else "") for i, item in enumerate(items)]
    lines = ["    // swift-format-ignore"]
    current = "    public static let " + items[0]
    for item in items[1:]:
        if len(current) + 1 + len(item) <= LINE_LENGTH:
            current += " " + item
        else:
            lines.append(current)
            current = "        " + item
    lines.append(current)
    return lines


REGIONS = {
    "table": region_table,
    "lookup": region_lookup,
    "ids": region_ids,
    "names": region_names,
}


def begin_marker(region):
    return f"// BEGIN GENERATED {region} by {SCRIPT} — do not edit"


def end_marker(region):
    return f"// END GENERATED {region}"


def render(text):
    """`text` with every region replaced by its generated lines."""
    lines = text.split("\n")
    for region, generate in REGIONS.items():
        begins = [i for i, line in enumerate(lines) if line.strip() == begin_marker(region)]
        ends = [i for i, line in enumerate(lines) if line.strip() == end_marker(region)]
        if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
            sys.exit(f"{SCRIPT}: {TARGET.relative_to(ROOT)}: expected one '{begin_marker(region)}' line "
                     f"followed by one '{end_marker(region)}' line")
        lines[begins[0] + 1 : ends[0]] = generate()
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the file differs from what would be generated; write nothing")
    args = parser.parse_args()
    validate()
    current = TARGET.read_text(encoding="utf-8")
    generated = render(current)
    path = TARGET.relative_to(ROOT)
    if args.check:
        if generated != current:
            print(f"{SCRIPT}: {path} is out of date; run python3 {SCRIPT}", file=sys.stderr)
            return 1
        return 0
    if generated != current:
        TARGET.write_text(generated, encoding="utf-8")
        print(f"{SCRIPT}: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
