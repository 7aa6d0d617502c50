"""The scenarios of test_figure_checks.py again, with the sandbox jobs run in this process.

The unit tier's coverage does not see code run in the sandbox's own process; the jobs are pure,
so the same scenarios are run here too (see tests/support/jobs.py). The walls are proven
by test_figure_checks.py, which runs them in the real sandbox; tests about the sandbox itself
are not repeated here: test_a_sandbox_error_is_an_error_never_a_pass.
"""

from __future__ import annotations

import pytest
from support.jobs import jobs_in_process  # noqa: F401 - the fixture

from .test_figure_checks import (  # noqa: F401 - collected again here
    test_a_chunk_name_that_is_not_letters_is_shown_as_hex,
    test_a_chunk_with_a_wrong_checksum_fails,
    test_a_jpeg_with_trailing_bytes_and_a_comment_fails_with_both,
    test_a_newline_after_a_jpeg_is_padding_only,
    test_a_plain_jpeg_passes,
    test_a_plain_png_passes,
    test_a_png_with_a_1_mb_text_chunk_warns_with_its_size,
    test_a_png_with_data_appended_after_iend_fails_and_says_how_much,
    test_a_zip_after_the_end_is_named_by_its_magic,
    test_bytes_hidden_between_jpeg_segments_fail,
    test_every_metadata_and_private_chunk_is_reported_and_warns,
    test_jpeg_app_segments_are_named_by_known_labels_only,
    test_small_metadata_of_a_plotting_library_is_listed_and_passes,
)

pytestmark = pytest.mark.usefixtures("jobs_in_process")
