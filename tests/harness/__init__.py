"""What the Python end-to-end suites share: the Pharos launcher (see `harness.pharos`)."""

from harness.pharos import (  # noqa: F401
    DEFAULT_ADMIN_TOKEN,
    REPO,
    RETRY_ON,
    Pharos,
    free_port,
    free_udp_port,
    log_tail,
    pharos_binary,
    wait_until,
)

__all__ = ["DEFAULT_ADMIN_TOKEN", "REPO", "RETRY_ON", "Pharos", "free_port", "free_udp_port", "log_tail",
           "pharos_binary", "wait_until"]
