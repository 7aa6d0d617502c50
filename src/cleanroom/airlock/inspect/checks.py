"""Automatic checks the airlock runs itself, outside every container, on the stored bytes.

Anything computed inside the researcher's container (counts, metadata, check results) is
never taken: checks read the blob the airlock stored. Each check is a function
``(CheckSubject) -> CheckOutcome`` in :data:`CHECKS`; disclosure checks (minimum companies,
dominance) are added to that list by their own modules; checks for one media type only are in
:data:`CHECKS_BY_MEDIA_TYPE`. A check that parses the content does it in the sandbox
(:mod:`cleanroom.airlock.inspect.sandboxed`), never in the airlock's process. The release
policy requires every file to have been looked at by at least one check (and a PDF by the
``pdf`` check), and decides what a warn or a fail means.
"""

from __future__ import annotations

from collections.abc import Callable

from cleanroom.airlock.enums import CheckStatus
from cleanroom.airlock.inspect import archives, figures, models, notebooks, sandboxed
from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.outcome import CheckOutcome, CheckSubject
from cleanroom.airlock.store import CHUNK
from cleanroom.core.hashing import sha256_fileobj


def check_integrity(subject: CheckSubject) -> CheckOutcome:
    """The stored bytes still hash to what the request points at."""
    with open(subject.path, "rb") as f:
        digest, size = sha256_fileobj(f, chunk_bytes=CHUNK)
    if digest == subject.sha256 and size == subject.size:
        return CheckOutcome(
            "integrity", CheckStatus.PASS, f"{size} bytes, SHA-256 {subject.sha256}"
        )
    return CheckOutcome("integrity", CheckStatus.ERROR, "the stored bytes do not match their hash")


def check_media_type(subject: CheckSubject) -> CheckOutcome:
    """Reports the media type the airlock found in the content (the release policy decides
    which types a file of each kind may have)."""
    return CheckOutcome(
        "media-type",
        CheckStatus.PASS,
        f"the content is {subject.media_type} (found by the airlock)",
    )


# What a PDF may hold besides its pages, and what each means for its release: a fail refuses
# it (data or code could ride out unseen), a warn asks for more reviewers. Names as in the PDF.
PDF_FINDINGS: dict[str, CheckStatus] = {
    "/JavaScript": CheckStatus.FAIL,
    "/JS": CheckStatus.FAIL,
    "/Launch": CheckStatus.FAIL,
    "/EmbeddedFile": CheckStatus.FAIL,
    "/EmbeddedFiles": CheckStatus.FAIL,
    "/RichMedia": CheckStatus.FAIL,
    "/XFA": CheckStatus.FAIL,
    "/SubmitForm": CheckStatus.FAIL,
    "/ImportData": CheckStatus.FAIL,
    "/GoToE": CheckStatus.FAIL,
    "/AcroForm": CheckStatus.WARN,
    "/OpenAction": CheckStatus.WARN,
    "/AA": CheckStatus.WARN,
    "/GoToR": CheckStatus.WARN,
    "/URI": CheckStatus.WARN,
}
PDF_FIX = (
    "export the document again as a plain PDF (no attachments, scripts or forms, e.g. "
    '"print to PDF") and replace the file'
)


def check_pdf(subject: CheckSubject) -> CheckOutcome:
    """Pages, bytes after the last ``%%EOF``, embedded files, scripts and forms of a PDF,
    found in the sandbox (the ``pdf-inspect`` job)."""
    result = sandboxed.inspect_pdf(subject.path)
    if not result.ok:
        return CheckOutcome(
            "pdf", CheckStatus.ERROR, f"the PDF could not be inspected: {result.message}"
        )
    return pdf_outcome(result.value)


def pdf_outcome(info: dict) -> CheckOutcome:
    """The ``pdf`` check's outcome from what ``inspect_pdf`` found (pure)."""
    if not info.get("pages"):
        return CheckOutcome(
            "pdf", CheckStatus.ERROR, "no page of this PDF could be read, so it was not checked"
        )
    if not info.get("scanned_whole"):
        return CheckOutcome(
            "pdf",
            CheckStatus.ERROR,
            "the PDF is too large to be scanned whole, so it was not checked",
        )
    failed: list[str] = []
    warned: list[str] = []
    if not info["eof_found"]:
        failed.append("its end (startxref and %%EOF) was not found")
    if info["trailing_bytes"]:
        failed.append(
            f"{info['trailing_bytes']:,} bytes after the last %%EOF "
            f"(they look like {info['trailing_kind']})"
        )
    if info["embedded_files"]:
        names = ", ".join(info["embedded_files"][:5])
        failed.append(f"{len(info['embedded_files'])} embedded file(s): {names}")
    for name, count in info["active"].items():
        status = PDF_FINDINGS.get(name, CheckStatus.WARN)
        (failed if status == CheckStatus.FAIL else warned).append(f"{name} ×{count}")
    pages = f"{info['pages']:,} pages"
    if failed:
        return CheckOutcome(
            "pdf",
            CheckStatus.FAIL,
            f"{pages}; this PDF carries more than its pages: {'; '.join(failed + warned)}. "
            f"To release it, {PDF_FIX}",
        )
    if warned:
        return CheckOutcome(
            "pdf",
            CheckStatus.WARN,
            f"{pages}; a reviewer must look at: {', '.join(warned)} (forms, actions or links)",
        )
    return CheckOutcome(
        "pdf", CheckStatus.PASS, f"{pages}; nothing after %%EOF, no embedded file, script or form"
    )


CHECKS: list[Callable[[CheckSubject], CheckOutcome]] = [check_integrity, check_media_type]
CHECKS_BY_MEDIA_TYPE: dict[str, list[Callable[[CheckSubject], CheckOutcome]]] = {
    mt.PDF: [check_pdf],
    mt.PNG: [figures.check_figure],
    mt.JPEG: [figures.check_figure],
    mt.NOTEBOOK: [notebooks.check_notebook],
    **{media_type: [models.check_model] for media_type in models.MODEL_MEDIA_TYPES},
    mt.ZIP: [archives.check_archive],
}


def run_checks(subject: CheckSubject) -> list[CheckOutcome]:
    """Every check on one file; a check that raises is an ``error`` (never a pass)."""
    outcomes = []
    for check in CHECKS + CHECKS_BY_MEDIA_TYPE.get(subject.media_type, []):
        name = check.__name__.removeprefix("check_").replace("_", "-")
        try:
            outcome = check(subject)
        except Exception as error:  # noqa: BLE001 - a crashing check must not pass
            outcome = CheckOutcome(name, CheckStatus.ERROR, f"the check could not run: {error}")
        outcomes.append(outcome)
    return outcomes
