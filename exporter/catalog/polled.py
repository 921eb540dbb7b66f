"""What every polled series derives from its catalog entry: the endpoint and the budget."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol

from exporter.agora.limits import Budget, Endpoint


class CatalogEntry(Protocol):
    @property
    def endpoint(self) -> Endpoint: ...


class PolledSeries(ABC):
    """Base of the real-time and insight series: one request shape of one catalog entry."""

    @property
    @abstractmethod
    def catalog(self) -> CatalogEntry: ...

    @property
    def endpoint(self) -> Endpoint:
        return self.catalog.endpoint

    @property
    def budget(self) -> Budget:
        """The quota the series' requests count against."""
        return self.endpoint.budget
