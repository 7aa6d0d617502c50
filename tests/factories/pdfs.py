"""Small, valid PDFs written from scratch (no dependency), for tests and the benchmark.

::

    data = make_pdf(pages=3)                                  # three pages of text
    data = make_pdf(pages=1, javascript="app.alert(1)")       # with an /OpenAction script
    data = make_pdf(pages=1, attachment=("rows.csv", b"a,b"))  # with an embedded file
    data = make_pdf(pages=2) + parquet_bytes                  # data after %%EOF
"""

from __future__ import annotations

import zlib


def make_pdf(
    pages: int = 1,
    *,
    text: str = "Yield by plant",
    javascript: str | None = None,
    attachment: tuple[str, bytes] | None = None,
    form: bool = False,
    compress: bool = True,
) -> bytes:
    """A PDF with ``pages`` A4 pages, each showing ``text`` and its page number."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(data: bytes, extra: bytes = b"") -> bytes:
        if compress:
            data = zlib.compress(data)
            extra += b" /Filter /FlateDecode"
        return b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"

    catalog = add(b"")  # filled in below
    pages_id = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for n in range(1, pages + 1):
        content = b"BT /F1 24 Tf 72 760 Td (%s - page %d) Tj ET" % (text.encode("latin-1"), n)
        # A few boxes so that the page is not blank (and its PNG not trivially small).
        content += b"".join(
            b" 0.%d g %d %d 60 40 re f" % (k % 9 + 1, 72 + 70 * (k % 6), 100 + 60 * (k // 6))
            for k in range(6 * ((n % 5) + 1))
        )
        content_id = add(stream(content))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] "
                b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                % (pages_id, font, content_id)
            )
        )
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        pages,
    )
    extra = b""
    if javascript is not None:
        js = add(b"<< /Type /Action /S /JavaScript /JS (%s) >>" % javascript.encode("latin-1"))
        extra += b" /OpenAction %d 0 R" % js
    if attachment is not None:
        name, data = attachment
        ef = add(stream(data, b" /Type /EmbeddedFile"))
        spec = add(
            b"<< /Type /Filespec /F (%s) /UF (%s) /EF << /F %d 0 R >> >>"
            % (name.encode(), name.encode(), ef)
        )
        extra += b" /Names << /EmbeddedFiles << /Names [(%s) %d 0 R] >> >>" % (name.encode(), spec)
    if form:
        extra += b" /AcroForm << /Fields [] >>"
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R%s >>" % (pages_id, extra)

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        xref,
    )
    return bytes(out)
