"""How the commands end on an error: one line on stderr, and an exit code that tells the
orchestrator whether a restart can help.

- :data:`EXIT_CONFIG` (2): the environment is wrong (no region, no credentials at all, a missing
  stream or table, no permission, a bad setting, a metrics port that is taken). Restarting
  cannot fix it; a person must.
- :data:`EXIT_TEMPFAIL` (75, ``EX_TEMPFAIL``): the environment is right but did not answer in
  time (an endpoint that does not answer, throttling or 5xx past the retries, an expired token or
  a credential refresh that failed). A restart with backoff is the remedy.

An error outside both groups is a bug and propagates as a traceback.
"""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    MetadataRetrievalError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    TokenRetrievalError,
    WaiterError,
)

from consumer.aws.backoff import RetriesExhausted
from consumer.aws.errors import FatalAwsError, error_code, is_retryable, is_transient_auth
from consumer.leases.lease import RenewalStalled
from consumer.observability.http import ObservabilityUnavailable
from consumer.provisioning import ProvisioningError

EXIT_CONFIG = 2
EXIT_TEMPFAIL = 75

# A provider exists but could not deliver credentials right now (instance metadata, SSO, STS).
_CREDENTIAL_REFRESH_ERRORS = (CredentialRetrievalError, MetadataRetrievalError, TokenRetrievalError)
# RenewalStalled: the worker renewed nothing for a failover time, stopped and released its leases.
TRANSIENT_ERRORS = (ConnectionError, HTTPClientError, RetriesExhausted, RenewalStalled, *_CREDENTIAL_REFRESH_ERRORS)
CONFIG_ERRORS = (
    NoRegionError,
    NoCredentialsError,
    PartialCredentialsError,
    ClientError,
    FatalAwsError,
    WaiterError,
    ProvisioningError,
    ObservabilityUnavailable,
)
# What the commands turn into one line and an exit code.
HANDLED_ERRORS = (*TRANSIENT_ERRORS, *CONFIG_ERRORS)

_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnrecognizedClientException"})


def exit_code_for(error: BaseException) -> int:
    """:data:`EXIT_TEMPFAIL` for a failure a restart can fix, :data:`EXIT_CONFIG` otherwise."""
    if isinstance(error, TRANSIENT_ERRORS):
        return EXIT_TEMPFAIL
    if isinstance(error, ClientError) and (is_retryable(error) or is_transient_auth(error)):
        return EXIT_TEMPFAIL
    return EXIT_CONFIG


def explain_error(error: BaseException) -> str:
    """One line for an operator: what is wrong and, where known, what to do."""
    if isinstance(error, NoRegionError):
        return "no AWS region: pass --region or set AWS_DEFAULT_REGION"
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials found (environment, profile or instance role)"
    if isinstance(error, ConnectionError):
        return f"cannot reach the endpoint: {error}"
    if isinstance(error, RenewalStalled):
        return f"lease renewals stalled, leases released (restart): {' '.join(str(error).split())}"
    if isinstance(error, _CREDENTIAL_REFRESH_ERRORS):
        return f"credentials could not be refreshed (retry later): {error}"
    if isinstance(error, ClientError):
        code = error_code(error)
        message = " ".join(str(error.response.get("Error", {}).get("Message", "")).split())
        if code == "ResourceNotFoundException":
            hint = "check the name, region and endpoint; `anomaly-consumer init` creates the default ones"
            return f"{message or code} ({hint})"
        if code in _DENIED_CODES:
            return f"permission denied: {code}: {message}"
        if is_transient_auth(error):
            return f"credentials expired (retry later): {code}: {message}"
        return f"{code}: {message}"
    return " ".join(str(error).split())
