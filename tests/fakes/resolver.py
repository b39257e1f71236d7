"""The HostResolver port without DNS: names resolve only as the test says."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeResolver:
    """Names to addresses, as a DNS server would answer now; any other name fails."""

    addresses: dict[str, list[str]] = field(default_factory=dict)

    async def resolve(self, host: str, port: int) -> list[str]:
        if host not in self.addresses:
            raise OSError(f"{host}: name does not resolve")
        return self.addresses[host]
