"""The scenarios of test_notebook_checks.py again, with the sandbox jobs run in this process.

The unit tier's coverage does not see code run in the sandbox's own process; the jobs are pure,
so the same scenarios are run here too (see tests/support/jobs.py). The walls are proven
by test_notebook_checks.py, which runs them in the real sandbox; tests about the sandbox itself
are not repeated here: test_a_sandbox_error_is_an_error_never_a_pass.
"""

from __future__ import annotations

import pytest
from support.jobs import jobs_in_process  # noqa: F401 - the fixture

from .test_notebook_checks import (  # noqa: F401 - collected again here
    test_a_5_mb_base64_output_is_reported_with_its_size,
    test_a_clean_notebook_passes,
    test_a_plot_with_data_after_its_end_is_reported,
    test_attachments_and_widget_state_are_reported,
    test_hidden_outputs_are_reported,
    test_large_cell_and_notebook_metadata_is_reported,
    test_large_tables_text_and_json_outputs_are_reported,
)

pytestmark = pytest.mark.usefixtures("jobs_in_process")
