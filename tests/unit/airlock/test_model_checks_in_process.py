"""The scenarios of test_model_checks.py again, with the sandbox jobs run in this process.

The unit tier's coverage does not see code run in the sandbox's own process; the jobs are pure,
so the same scenarios are run here too (see tests/support/jobs.py). The walls are proven
by test_model_checks.py, which runs them in the real sandbox; tests about the sandbox itself
are not repeated here.
"""

from __future__ import annotations

import pytest
from support.jobs import jobs_in_process  # noqa: F401 - the fixture

from .test_model_checks import (  # noqa: F401 - collected again here
    test_a_pickle_importing_os_system_is_unsafe_and_never_loaded,
    test_a_pickle_that_cannot_be_read_is_an_error_not_a_pass,
    test_a_plain_pickle_warns_and_lists_its_imports,
    test_a_torch_zip_carrying_bytes_outside_its_members_fails,
    test_a_torch_zip_has_its_data_pkl_scanned,
    test_a_torch_zip_with_an_unsafe_data_pkl_fails_and_is_not_loaded,
    test_bytes_after_a_pickle_that_are_no_pickle_are_an_error,
    test_every_pickle_in_a_stream_is_scanned_not_only_the_first,
    test_model_outcome_table,
    test_onnx_passes_with_initializer_counts_and_sizes,
    test_onnx_tensors_inside_node_attributes_are_counted,
    test_onnx_with_external_data_fails,
    test_onnx_with_large_metadata_warns,
    test_safetensors_pass_with_counts_and_sizes,
    test_torchscript_code_in_a_torch_zip_fails,
)

pytestmark = pytest.mark.usefixtures("jobs_in_process")
