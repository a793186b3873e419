"""Pipeline and host: collectors, scrapes, the Watchdog, memory, disk, processes, probes (X, W)."""

from __future__ import annotations

from warden.alertspecs import WATCHDOG_SILENCE_SECONDS
from warden.config import Config
from warden.dashboards.spec import Board, Panel, Query, Section, alert_steps, threshold
from warden.rules import prom_duration

INSTANCE = 'instance=~"$instance"'


def error_lines(config: Config) -> Panel:
    errors_window = prom_duration(threshold(config, "ErrorLogSpike", "window"))
    return Panel(
        "series",
        "Error log lines per minute",
        f"Error lines in the followed logs per minute over {errors_window}; red where"
        " ErrorLogSpike fires.",
        "short",
        (
            Query(
                f"sum without (source) (rate(warden_log_error_lines_total{{{INSTANCE}}}"
                f"[{errors_window}])) * 60",
                "errors/min",
                always=True,
            ),
        ),
        steps=alert_steps(
            "ErrorLogSpike", threshold(config, "ErrorLogSpike", "lines_per_minute"), ">"
        ),
        width=12,
        height=7,
        alert="ErrorLogSpike",
    )


def _pipeline(config: Config) -> Section:
    return Section(
        "Pipeline",
        (
            Panel(
                "series",
                "Scrape targets up",
                "1 when Prometheus scraped the exporter or the responder;"
                " red where TargetDown fires.",
                "short",
                (Query('up{job=~"warden-exporter|warden-responder"}', "{{job}}", always=True),),
                steps=alert_steps("TargetDown", 1, "<"),
                width=8,
                height=7,
                alert="TargetDown",
            ),
            Panel(
                "series",
                "Collector success",
                "1 when a collector's last run succeeded; red where CollectorFailing fires.",
                "short",
                (
                    Query(
                        f"min by (collector) (warden_collector_success{{{INSTANCE}}})",
                        "{{collector}}",
                        always=True,
                    ),
                ),
                steps=alert_steps("CollectorFailing", 1, "<"),
                width=8,
                height=7,
                alert="CollectorFailing",
            ),
            Panel(
                "series",
                "Collector duration",
                "How long each collector's last run took.",
                "s",
                (
                    Query(
                        f"max by (collector) (warden_collector_duration_seconds{{{INSTANCE}}})",
                        "{{collector}}",
                        always=True,
                    ),
                ),
                width=8,
                height=7,
            ),
            Panel(
                "series",
                "Watchdog age",
                "Seconds since the Watchdog last reached the responder through Alertmanager;"
                f" after {WATCHDOG_SILENCE_SECONDS:.0f} s the responder reads the exporter itself.",
                "s",
                (
                    Query(
                        "time() - max(warden_responder_watchdog_timestamp_seconds)",
                        "age",
                        always=True,
                    ),
                ),
                steps=((None, "green"), (WATCHDOG_SILENCE_SECONDS, "red")),
                width=12,
                height=7,
            ),
            Panel(
                "series",
                "Responder heartbeat age",
                "Seconds since the responder's last cycle;"
                " red where ResponderHeartbeatMissing fires.",
                "s",
                (
                    Query(
                        "time() - max(warden_responder_heartbeat_timestamp_seconds)",
                        "age",
                        always=True,
                    ),
                ),
                steps=alert_steps(
                    "ResponderHeartbeatMissing",
                    threshold(config, "ResponderHeartbeatMissing", "max_age"),
                    ">",
                ),
                width=12,
                height=7,
                alert="ResponderHeartbeatMissing",
            ),
        ),
    )


def _host(config: Config) -> Section:
    return Section(
        "Host",
        (
            Panel(
                "series",
                "Memory used",
                "Share of the host's memory in use; red where MemoryHigh fires.",
                "percentunit",
                (
                    Query(
                        f"1 - warden_host_memory_available_bytes{{{INSTANCE}}}"
                        f" / warden_host_memory_total_bytes{{{INSTANCE}}}",
                        "used",
                        always=True,
                    ),
                ),
                steps=alert_steps("MemoryHigh", threshold(config, "MemoryHigh", "used_ratio"), ">"),
                width=8,
                height=7,
                alert="MemoryHigh",
            ),
            Panel(
                "series",
                "Disk free",
                "Free share of each watched filesystem; red where DiskSpaceLow fires.",
                "percentunit",
                (
                    Query(
                        f"warden_host_filesystem_free_bytes{{{INSTANCE}}}"
                        f" / warden_host_filesystem_size_bytes{{{INSTANCE}}}",
                        "{{path}}",
                        always=True,
                    ),
                ),
                steps=alert_steps(
                    "DiskSpaceLow", threshold(config, "DiskSpaceLow", "free_ratio"), "<"
                ),
                width=8,
                height=7,
                alert="DiskSpaceLow",
            ),
            Panel(
                "series",
                "Processes and load",
                "Processes on the host and the 1-minute load average.",
                "short",
                (
                    Query(f"warden_host_processes{{{INSTANCE}}}", "processes", always=True),
                    Query(f"warden_host_load1{{{INSTANCE}}}", "load1", always=True),
                ),
                width=8,
                height=7,
            ),
            Panel(
                "series",
                "Agent processes",
                "Agent processes by state, and orphans (agents no swarm owns).",
                "short",
                (
                    Query(f"sum by (state) (warden_agents{{{INSTANCE}}})", "{{state}}"),
                    Query(f"sum(warden_agents_orphans{{{INSTANCE}}})", "orphans"),
                ),
                width=12,
                height=7,
            ),
            error_lines(config),
        ),
    )


def _probes(config: Config) -> Section:
    return Section(
        "Probes",
        (
            Panel(
                "series",
                "Probe latency",
                "How long each probe took (OpenClaw's gateway among them);"
                " red where SlowResponse fires.",
                "s",
                (
                    Query(
                        f"max by (probe) (warden_probe_duration_seconds{{{INSTANCE}}})", "{{probe}}"
                    ),
                ),
                steps=alert_steps(
                    "SlowResponse", threshold(config, "SlowResponse", "seconds"), ">"
                ),
                width=12,
                height=7,
                alert="SlowResponse",
            ),
            Panel(
                "series",
                "Probe success",
                "1 when a probe answered well; red where OpenClawDisconnected fires"
                " for OpenClaw's probes.",
                "short",
                (Query(f"min by (probe) (warden_probe_success{{{INSTANCE}}})", "{{probe}}"),),
                steps=alert_steps("OpenClawDisconnected", 1, "<"),
                width=12,
                height=7,
                alert="OpenClawDisconnected",
            ),
            Panel(
                "bars",
                "Webhooks rejected",
                "Requests the responder refused in the last 5 minutes:"
                " unauthorized, bad body, too large.",
                "short",
                (
                    Query(
                        "sum by (reason) (increase(warden_responder_webhooks_rejected_total[5m]))",
                        "{{reason}}",
                    ),
                ),
                width=24,
                height=6,
                stacked=True,
            ),
        ),
    )


def board(config: Config) -> Board:
    return Board(
        "warden-pipeline",
        "Warden / Pipeline and host",
        "Is Warden itself healthy: collectors, scrapes, alert delivery, the host, probes.",
        (_pipeline(config), _host(config), _probes(config)),
        variables=(("instance", "warden_build_info, instance"),),
    )
