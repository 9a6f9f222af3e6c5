"""Where the AWS services are: the region, and an endpoint override per service.

:class:`Endpoints` is all the client builders read of the configuration, so this package does
not depend on the settings module (which sits above the packages whose options it checks);
:class:`~consumer.settings.Settings` satisfies it.
"""

from __future__ import annotations

from typing import Protocol


class Endpoints(Protocol):
    """The region and service endpoints a client is built for.

    Contract: ``region`` is an AWS region name, or ``None`` for boto3's own resolution (the
    environment, the profile); :meth:`endpoint_for` returns the endpoint URL to use for a service
    (``"kinesis"``, ``"dynamodb"``, ``"sns"``), or ``None`` for the service's public endpoint.
    Both are read when a client is built, never later."""

    @property
    def region(self) -> str | None: ...

    def endpoint_for(self, service: str) -> str | None: ...
