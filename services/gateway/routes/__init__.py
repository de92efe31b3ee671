"""The gateway's routers: statistics, with-stats, deletion risk (and its ``/audit`` alias), events."""
