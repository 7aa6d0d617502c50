"""The scenarios of test_copied.py again, with the sandbox jobs run in this process.

The unit tier's coverage does not see code run in the sandbox's own process; the jobs are pure,
so the same scenarios are run here too (see tests/support/jobs.py). The walls are proven
by test_copied.py, which runs them in the real sandbox; tests about the sandbox itself
are not repeated here.
"""

from __future__ import annotations

import pytest
from support.jobs import jobs_in_process  # noqa: F401 - the fixture

from .test_copied import (  # noqa: F401 - collected again here
    grant,
    test_50_copied_rows_hidden_among_made_up_rows_are_counted_exactly,
    test_50_rows_copied_whole_are_counted,
    test_a_parquet_export_is_compared,
    test_a_table_of_aggregates_of_the_same_data_is_not_a_copy,
    test_an_unreadable_export_is_an_error,
    test_an_xlsx_export_is_compared,
    test_numbers_written_another_way_are_still_caught,
    test_reordered_renamed_and_dropped_columns_are_still_caught,
    test_the_contributor_column_is_never_compared_unless_granted,
)

pytestmark = pytest.mark.usefixtures("jobs_in_process")
