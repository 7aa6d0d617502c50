"""The scenarios of test_archive_checks.py again, with the sandbox jobs run in this process.

The unit tier's coverage does not see code run in the sandbox's own process; the jobs are pure,
so the same scenarios are run here too (see tests/support/jobs.py). The walls are proven
by test_archive_checks.py, which runs them in the real sandbox; tests about the sandbox itself
are not repeated here.
"""

from __future__ import annotations

import pytest
from support.jobs import jobs_in_process  # noqa: F401 - the fixture

from .test_archive_checks import (  # noqa: F401 - collected again here
    test_a_clean_zip_of_a_csv_and_a_png_passes,
    test_a_large_extra_field_is_refused,
    test_a_member_of_unknown_type_is_reported_for_the_policy,
    test_a_member_that_holds_more_than_it_declares_is_refused_while_reading,
    test_a_member_with_a_high_ratio_is_refused,
    test_a_nested_zip_is_refused,
    test_a_symlink_member_is_refused,
    test_a_zip_bomb_is_refused_from_its_central_directory,
    test_a_zip_with_bytes_before_or_after_it_is_not_a_zip,
    test_absolute_and_dotdot_paths_are_refused,
    test_an_encrypted_member_is_refused,
    test_bytes_between_members_are_refused,
    test_bytes_no_member_holds_are_refused_comments,
    test_duplicate_names_are_refused,
    test_pickles_and_tsv_are_detected,
    test_too_many_members_are_refused_unread,
    test_zip_kinds_are_detected_from_member_names,
)

pytestmark = pytest.mark.usefixtures("jobs_in_process")
