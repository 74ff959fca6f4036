"""Text encodings of attribute tables and text files: strict UTF-8, then GB18030.

GB18030 is a superset of GBK (code page 936) and GB2312, so it decodes what Chinese
offices write; it is reported as the encoding used.
"""

import codecs
import struct

UTF8, GB18030 = "UTF-8", "GB18030"
CANDIDATES = (UTF8, GB18030)


def normalise(name: str) -> str:
    """A user-given encoding name checked and spelt canonically ('gbk' -> 'GBK')."""
    try:
        info = codecs.lookup(name.strip())
    except LookupError:
        from geo_service.errors import InvalidInput

        raise InvalidInput(
            f"unknown text encoding {name!r} (try UTF-8 or GBK)",
            rule="encoding_name",
            params={"value": name},
        ) from None
    return {"utf-8": UTF8, "gb18030": GB18030, "gbk": "GBK", "gb2312": "GB2312"}.get(
        info.name, info.name.upper()
    )


def detect_text(data: bytes) -> tuple[str, str] | None:
    """(encoding, text) of a text file: a BOM says UTF-8/UTF-16, else strict UTF-8, else
    GB18030; None when no candidate decodes it."""
    if data.startswith(codecs.BOM_UTF8):
        try:
            return UTF8, data[len(codecs.BOM_UTF8) :].decode("utf-8")
        except UnicodeDecodeError:
            return None
    for bom, name in ((codecs.BOM_UTF16_LE, "UTF-16-LE"), (codecs.BOM_UTF16_BE, "UTF-16-BE")):
        if data.startswith(bom):
            try:
                return "UTF-16", data[len(bom) :].decode(name)
            except UnicodeDecodeError:
                return None
    for candidate in CANDIDATES:
        try:
            return candidate, data.decode(candidate)
        except UnicodeDecodeError:
            continue
    return None


def decode_text(data: bytes, encoding: str) -> str:
    """Decode with a user-given encoding, dropping a UTF-8 BOM."""
    text = data.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


def dbf_text_fields(dbf: bytes) -> list[bytes]:
    """The non-blank values of the character fields of a DBF table."""
    if len(dbf) < 32:
        return []
    records, header_length, record_length = struct.unpack("<IHH", dbf[4:12])
    fields, offset, position = [], 1, 32  # byte 0 of each record is the deletion flag
    while position + 32 <= min(header_length, len(dbf)) and dbf[position] != 0x0D:
        kind, width = chr(dbf[position + 11]), dbf[position + 16]
        if kind in "CM":
            fields.append((offset, width))
        offset += width
        position += 32
    values = []
    for r in range(records):
        start = header_length + r * record_length
        record = dbf[start : start + record_length]
        if len(record) < record_length:
            break
        for field_offset, width in fields:
            value = record[field_offset : field_offset + width].rstrip(b" \x00")
            if value:
                values.append(value)
    return values


def detect_dbf_encoding(dbf: bytes) -> str | None:
    """Strict UTF-8 first, then GB18030 (a superset of GBK); None if the text is plain ASCII.

    Each character field is decoded on its own, and a multi-byte character cut off at the
    end of a field (writers truncate by bytes) is forgiven.
    """
    values = dbf_text_fields(dbf)
    if not values and len(dbf) >= 32:
        # Unparseable header: judge the record area as a whole.
        header_length = struct.unpack("<H", dbf[8:10])[0]
        values = [dbf[header_length:]]
    if all(v.isascii() for v in values):
        return None
    for candidate in CANDIDATES:
        if all(_decodes(v, candidate) for v in values):
            return candidate
    return "ISO-8859-1"


def _decodes(value: bytes, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        decoder.decode(value, final=False)  # an incomplete trailing character is fine
    except UnicodeDecodeError:
        return False
    return True
