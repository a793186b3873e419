"""An OpenClaw outage through `warden up`, with the real gateway (A5, T7).

The real gateway (npm `openclaw`, installed by `scripts/npm-tools.sh openclaw`)
on loopback, and `warden up` with the shipped warden.yml and its shipped
timings (probes every 15 s, OpenClawDisconnected `for: 30s`), the probes aimed
at the gateway, and OpenClawDisconnected's recovery starting the gateway again
(`examples/openclaw_start.py`: without a service manager, `openclaw gateway
restart` cannot bring back a gateway that died). Each trial SIGKILLs the
gateway and measures, from the kill: the alert at the responder (its recovery
started), and the gateway healthy again (`/readyz` 200); then it waits for the
alert to resolve.

Run: .venv/bin/python -m bench.openclaw_outage [--trials 5] [--fast]
`--fast`: probes every 2 s and `for: 4s`, as the end-to-end test uses.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import percentile
from tests.conftest import make_demo_repo, wait_for
from tests.openclaw import RECOVER_BY_START, Gateway, recoveries, stack_for
from tests.stack.test_up import StackClock, metrics_text, status, warden_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--fast", action="store_true")
    args = parser.parse_args()
    interval, for_ = ("2s", "4s") if args.fast else ("15s", "30s")
    with tempfile.TemporaryDirectory(prefix="warden-openclaw-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        demo = make_demo_repo(work / "demo")
        gw = Gateway.configure(work / "openclaw")
        recover = work / "recover.py"
        recover.write_text(RECOVER_BY_START)
        cfg, ports = stack_for(work, demo, gw, recover, for_=for_, interval=interval)
        alerted: list[float] = []
        healthy: list[float] = []
        try:
            first = gw.start(90)
            print(f"gateway first ready after {first:.1f} s")
            with warden_up(cfg, StackClock.at_noon(work), work / "up.log"):
                wait_for(lambda: status(ports), 60)
                ok = 'warden_probe_success{kind="http",probe="openclaw"} 1.0'
                wait_for(lambda: ok in metrics_text(ports, "exporter"), 120)
                state = work / "state"
                for trial in range(args.trials):
                    before = len(recoveries(state))
                    killed = time.monotonic()
                    gw.kill()
                    wait_for(lambda n=before: len(recoveries(state)) > n, 300, 0.1)
                    alerted.append(time.monotonic() - killed)
                    gw.wait_ready(120)
                    healthy.append(time.monotonic() - killed)
                    # The outage's run (the first new one) sees the alert resolve.
                    wait_for(lambda n=before: recoveries(state)[n][1] == "done", 300, 0.5)
                    print(
                        f"trial {trial + 1}: alert at the responder {alerted[-1]:.1f} s, "
                        f"healthy {healthy[-1]:.1f} s after the kill"
                    )
        finally:
            gw.kill()
    print(
        f"{args.trials} trials (probes every {interval}, for: {for_}): "
        f"alert at the responder p50 {percentile(alerted, 50):.1f} s "
        f"(max {max(alerted):.1f}); healthy again p50 {percentile(healthy, 50):.1f} s "
        f"(max {max(healthy):.1f})"
    )


if __name__ == "__main__":
    main()
