"""A corpus of Kafka values, good and bad, for the Bronze parse's differential test.

Deterministic: the producer's events come from a seed with fixed ``vente_id``\\ s, so the same
bytes are built on every run and a digest of the parse's results can be recorded. Reuses the
messages the other Bronze tests already write (``BAD_RECORDS``, ``ODD``, ``EDGES``) and adds,
for every field of the contract, each kind of JSON value in its place.
"""

from __future__ import annotations

import json

from ingestion.bronze import FIELDS
from ingestion.events import BAD_KINDS, messages
from tests.ingestion.test_bronze_odd_messages import EDGES, ODD
from tests.ingestion.test_bronze_transform import BAD_RECORDS, SALE, _sale

MIB = 1024 * 1024


class CountingIds:
    """``vente_id``\\ s 1, 2, 3...: the producer's messages without the clock."""

    def __init__(self) -> None:
        self._next = 0

    def next(self) -> int:
        self._next += 1
        return self._next


# Each of these JSON literals is put in place of every field of a sale.
LITERALS = [
    b"0", b"-0", b"1", b"-1", b"7", b"2", b"1.0", b"1.00", b"1.000", b"1.5", b"12.34", b"-12.34",
    b"12.345", b"0.001", b"1e2", b"1E2", b"1.5e2", b"-1.5E-2", b"1e-2", b"2.5e-1", b"1e300", b"1e400",
    b"-1e400", b"9999999999.99", b"10000000000", b"99999999999.99", b"2147483647", b"2147483648",
    b"-2147483648", b"-2147483649", b"9223372036854775807", b"9223372036854775808",
    b"-9223372036854775808", b"-9223372036854775809", b"18446744073709551616",
    b"123456789012345678901234567890123456789", b"1" * 39, b"0.1" + b"0" * 50,
    b"true", b"false", b"null", b"[]", b"[1]", b"{}", b'{"a": 1}', b'{"montant": 1, "b": [1, {"c": null}]}',
    b'""', b'" "', b'"2"', b'"-2"', b'"2.50"', b'"1e2"', b'"12,50"', b'"0x1A"', b'"deux"', b'"true"',
    b'"null"', b'"2025-03-01T10:30:00"', b'"2025-03-01T10:30:00Z"', b'"2025-03-01T10:30:00+02:00"',
    b'"2025-03-01"', b'"2025-03-01 10:30"', b'"2025-13-01T10:30:00"', b'"2025-02-30T10:30:00"',
    b'"10:30:00"', b'"1740825045"', b'"  2025-03-01T10:30:00  "', b'"caf\\u00e9"', b'"\\ud83d\\ude00"',
    b'"\\u0000"', b'"tab\\there"', b'"\xc3\xa9t\xc3\xa9"', b'"' + b"x" * 200 + b'"',
]  # fmt: skip


def _with_literal(field: str, literal: bytes) -> bytes:
    return _sale(**{field: "@@"}).replace(b'"@@"', literal)


def _without(*fields: str) -> bytes:
    return json.dumps({k: v for k, v in SALE.items() if k not in fields}).encode()


def _whole_messages() -> list[bytes | None]:
    """Messages that are odd as a whole: empty, not UTF-8, not JSON, not objects, huge."""
    sale = _sale()
    return [
        None, b"", b" ", b"\n", b"\t\r\n ", b"\x00", b"{}", b" {} ", b"{ }", b"[]", b"[{}]",
        b"[" + sale + b"]",
        b"0", b"-1.5", b"1e400", b'""', b'"{}"', b"null", b"false", b"NaN", b"{", b"}", b"{]", b'{"a"}',
        b'{"a":}', b'{"a":1,}', b"{'a': 1}", b'{"a": 01}', b'{"a": .5}', b'{"a": +1}', b'{"a": 1.}',
        b'{"a": "\\x41"}', b'{"a": "line\nbreak"}', b"\xef\xbb\xbf" + sale, b"\xff\xfe" + sale,
        sale.decode().encode("utf-16"), sale.decode().encode("utf-16-le"), sale + b" ", b" \n" + sale,
        sale + b"\n", sale + b"x", sale + b"{}", sale + sale, sale[:-1], sale[1:], sale.replace(b": ", b":"),
        sale.replace(b'"vente_id"', b"vente_id"), b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
        b'{"client_nom": "\xe9"}', b'{"client_nom": "ok"}\xff', b"\x80" + sale,
        _sale(client_nom="é" * 300_000), _sale(coupon=["x" * 1000] * 500), b" " * MIB,
        b'{"vente_id": 1' + b', "extra": 1' * 20_000 + b"}",
        b'{"vente_id": 1, "nested": ' + b'{"a": ' * 500 + b"1" + b"}" * 500 + b"}",
        json.dumps({"vente_id": 1, "VENTE_ID": 2, "Vente_Id": 3}).encode(),
        json.dumps({"vente_id": 1, "vente_id ": 2, " vente_id": 3}).encode(),
        json.dumps({"$.vente_id": 1, "vente_id.x": 2, "a.b": {"c": 3}}).encode(),
    ]  # fmt: skip


def _near_the_fast_path() -> list[bytes]:
    """The producer's compact form, just inside and just outside what a quicker parse might take."""
    (canonical,) = [m.value for m in messages(1, seed=3, ids=CountingIds())]  # type: ignore[arg-type]
    text = canonical.decode()
    event = json.loads(text)

    def compact(**changes: object) -> bytes:
        return json.dumps({**event, **changes}, separators=(",", ":"), ensure_ascii=False).encode()

    def literal(field: str, value: str) -> bytes:
        return compact(**{field: "@@"}).replace(b'"@@"', value.encode())

    values = [
        canonical,
        canonical.replace(b",", b" ,\t").replace(b":", b"\r\n: "),
        b" \n" + canonical + b"\r",
    ]
    values += [
        canonical + tail.encode() for tail in ("\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\n\n", "\x00")
    ]
    values += [lead.encode() + canonical for lead in ("\u2028", "\x0b", "\x0c", "\ufeff")]
    for field in ("vente_id", "client_id", "produit_id"):
        values += [
            literal(field, v) for v in ("9" * 18, "-" + "9" * 18, "9" * 19, "1" + "0" * 18, "-0", "00", "1.0")
        ]
    values += [literal("quantite", v) for v in ("9" * 9, "9" * 10, "-" + "9" * 9, "2147483648", "-0", "0")]
    values += [
        literal("montant", v)
        for v in (
            "9" * 10 + ".99",
            "9" * 11,
            "9" * 10 + ".999",
            "-0",
            "-0.0",
            "0.00",
            "1.",
            ".5",
            "1.50",
            "1e1",
        )
    ]
    for field in ("client_nom", "timestamp"):
        values += [
            literal(field, v)
            for v in ('"x\x7f"', '"a\\"b"', '"a\\/b"', '"a\\u00e9"', '"\t"', '""', '"' + "é" * 4096 + '"')
        ]
        values += [literal(field, '"' + "x" * n + '"') for n in (4095, 4096, 4097)]
    values += [
        literal("timestamp", v) for v in ('"hier"', '"2025-03-01T25:00:00"', '"2025-03-01T10:30:00+25:00"')
    ]
    values += [canonical.replace(b'"vente_id"', b'"vente\\u005fid"'), canonical[:-1] + b',"segment":"B2B"}']
    values += [canonical[:-1] + b',"x":1}', canonical.replace(b'"client_id"', b'"client_id" ', 1)]
    reordered = dict(reversed(list(event.items())))
    values += [json.dumps(reordered, separators=(",", ":")).encode(), compact(client_id=None)]
    return values


def corpus() -> list[bytes | None]:
    """Every message of the corpus, in a fixed order."""
    values: list[bytes | None] = []
    # Every kind the producer makes, many times over.
    produced = list(messages(3_000, seed=14, bad_ratio=0.6, ids=CountingIds()))  # type: ignore[arg-type]
    assert {m.kind for m in produced} >= set(BAD_KINDS)
    values += [m.value for m in produced]
    values += [v for v, _, _ in BAD_RECORDS] + [v for v, _, _ in ODD] + [v for v, _, _ in EDGES]
    # Each JSON literal as each field; each field missing; each one twice over.
    values += [_with_literal(f.json_name, lit) for f in FIELDS for lit in LITERALS]
    values += [_without(f.json_name) for f in FIELDS]
    values += [_without(*(f.json_name for f in FIELDS)), _without(*(f.json_name for f in FIELDS[:6]))]
    values += [json.dumps({**SALE, f.json_name.upper(): SALE[f.json_name]}).encode() for f in FIELDS]
    values += [_sale(**{f.json_name: {f.json_name: SALE[f.json_name]}}) for f in FIELDS]
    values += [_sale(**{f.json_name: [SALE[f.json_name]]}) for f in FIELDS]
    values += _whole_messages()
    values += _near_the_fast_path()
    return values
