"""A job that SLURM will not take is one line that names the fix, not a traceback."""

import subprocess

from submitit.core.utils import FailedJobError

from tuneforge.cli import messages
from tuneforge.errors import EXIT_CONFIG


def _refused(stderr: str) -> FailedJobError:
    try:
        try:
            raise subprocess.CalledProcessError(1, ["sbatch", "job.sh"], stderr=stderr)
        except subprocess.CalledProcessError as cause:
            raise FailedJobError(stderr) from cause
    except FailedJobError as ex:
        return ex


def test_sbatch_refusing_a_job_is_one_line_with_its_reason_and_the_fix():
    stderr = (
        "sbatch: error: invalid partition specified: gpu\n"
        "sbatch: error: Batch job submission failed: Invalid partition name specified"
    )
    lines, code = messages.failure(_refused(stderr))
    assert code == EXIT_CONFIG and len(lines) == 1
    assert "SLURM refused the job (invalid partition specified: gpu)" in lines[0]
    assert "hydra.launcher.partition" in lines[0]


def test_a_job_that_ran_and_failed_is_not_taken_for_a_refusal():
    lines, code = messages.failure(FailedJobError("Job (task=0) failed during processing"))
    assert code != EXIT_CONFIG and "SLURM refused" not in lines[0]


def test_sbatch_missing_names_the_launcher_that_needs_no_cluster():
    lines, code = messages.failure(FileNotFoundError(2, "No such file or directory", "sbatch"))
    assert code == EXIT_CONFIG and "hydra/launcher=submitit_local" in lines[0]
