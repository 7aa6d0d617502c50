"""The scenarios of test_recompute.py again, with the sandbox jobs run in this process.

The unit tier's coverage does not see code run in the sandbox's own process; the jobs are pure,
so the same scenarios are run here too (see tests/support/jobs.py). The walls are proven
by test_recompute.py, which runs them in the real sandbox; tests about the sandbox itself
are not repeated here: test_a_timeout_is_an_error, test_the_job_reads_no_file_but_its_inputs.
"""

from __future__ import annotations

import pytest
from support.jobs import jobs_in_process  # noqa: F401 - the fixture

from .test_recompute import (  # noqa: F401 - collected again here
    test_12_plants_of_2_organisations_are_2_organisations,
    test_a_cell_of_3_organisations_fails_and_one_of_12_passes,
    test_a_forged_table_fails_with_the_cell_named,
    test_a_parquet_table_is_read_and_compared,
    test_a_pivot_of_means_with_medians_and_extremes_passes,
    test_a_spec_naming_a_column_the_grant_lacks_is_an_error,
    test_a_table_made_by_the_helper_passes_with_a_pivot_of_zeros,
    test_a_table_rounded_as_declared_passes_and_otherwise_fails,
    test_a_too_large_table_is_an_error,
    test_an_unknown_aggregate_is_never_computed,
    test_an_unmapped_contributor_fails_closed,
    test_nulls_and_negative_values_are_measured_per_organisation,
    test_one_organisation_holding_95_percent_fails_the_nk_rule,
    test_the_airlocks_filter_is_applied,
    test_the_p_ratio_on_organisation_totals,
)

pytestmark = pytest.mark.usefixtures("jobs_in_process")
