"""The errors dealx reports to a user, each with its documented exit code.

Exit codes: 0 all done; 1 some documents failed (or an eval gate failed); 2 usage, configuration
or input error, or a model server dealx runs failed; 3 the model endpoint rejected the
credentials; 4 the run stopped at its budget (--max-cost-usd, --budget-tokens); 5 a batch is
still running at the provider (collect it later); 130 interrupted (Ctrl-C; rerun the same command
to resume).

A DocumentError fails one document only: a batch records it in errors.jsonl and goes on, and
the run then exits 1. An article file that cannot be read (empty, binary, not UTF-8) and a
request with no recorded answer under --cache-mode replay are document errors. A path, document
id or cache that cannot be used stops the command before any work, so 2.
"""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_BUDGET = 4
EXIT_PENDING = 5
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C


class DealxError(Exception):
    """An error that ends the command with a one-line message and `exit_code`."""

    exit_code = EXIT_USAGE


class DocumentError(DealxError):
    """A problem with one document; the others are still extracted, and the run exits 1."""

    exit_code = EXIT_FAILED


class InputError(DealxError):
    """Bad input that stops the command: a missing path, an unsafe document id, a broken
    cache, gold file or run."""


class ConfigError(DealxError):
    """A setting that cannot work: unknown model, missing key, unknown prompt."""


class ModelServerError(DealxError):
    """The model server dealx runs (llama.cpp for `local/`) did not start or died during the
    run; no later request can be answered, so the run stops (exit 2) and the document in
    flight stays to do on a rerun."""


class AuthError(DealxError):
    """The model endpoint rejected the credentials; retrying other documents cannot help."""

    exit_code = EXIT_AUTH


class DocumentsFailed(DealxError):
    """Some documents of a library call failed; `extractions` holds the results of the others
    and `failures` each failed document's reason."""

    exit_code = EXIT_FAILED

    def __init__(self, failures: dict[str, str], extractions: object) -> None:
        shown = "; ".join(f"{doc_id}: {reason}" for doc_id, reason in list(failures.items())[:3])
        more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
        super().__init__(f"{len(failures)} document(s) failed: {shown}{more}")
        self.failures = failures
        self.extractions = extractions


class BudgetExceeded(DealxError):
    """The next document (or batch) would take the run past --max-cost-usd or --budget-tokens;
    what was done is written, and rerunning with a higher budget resumes."""

    exit_code = EXIT_BUDGET


class BatchPending(DealxError):
    """A provider batch of the run has not finished; `dealx batch collect` picks it up later."""

    exit_code = EXIT_PENDING


class BatchApiError(DealxError):
    """The provider's Files or Batches endpoint refused a call (other than the credentials);
    what was recorded stays, and rerunning the command resumes."""
