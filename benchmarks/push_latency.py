"""Push approval -> "signed" latency, and the load the EHR puts on ID.me while it polls.

    .venv/bin/python benchmarks/push_latency.py [--pending 200] [--single-runs 20]

What it does (everything real except the person holding the phone):
- a fresh SQLite database and filesystem broker under var/bench-push/ (or EHR_VAR_DIR); with
  DATABASE_URL / REDIS_URL set, that (empty, scratch) PostgreSQL database and Redis instead,
  for the web side and the worker alike;
- the ID.me sandbox served over HTTP by a threaded WSGI server in this process, wrapped in a
  counter of every request the EHR sends to ID.me (partner API and token endpoint);
- a real `celery worker` of --worker-processes processes (prefork, default 4) that runs the
  EHR's push poller in one process and the completions it hands over in the others;
- N prescribers, each with an ID.me account, a paired phone, EPCS permission and one READY
  C-II prescription; each opens a signing ceremony bound to its review (DEA-19) and starts
  its push, calling what the ceremony views call (eprescribe.ceremony_selection,
  eprescribe.ceremony_binding, mfa.challenges);
- the phone (the sandbox's own answer function, with the key made at pairing) approves with the
  matched number; latency = the prescription's signed_at minus the moment the approval returned.

Figures are printed, never asserted. Scenario 1: one pending ceremony at a time (repeated).
Scenario 2: N pending at once, approved one by one over --approve-over seconds (default 60,
i.e. 200 clinicians answering within a minute). With --burst, scenario 3: N pending, all
approved back to back as fast as the phone can (a stress figure).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VAR = Path(os.environ.get("EHR_VAR_DIR", ROOT / "var" / "bench-push"))


def prepare_environment(port: int, sequencer: str) -> dict[str, str]:
    if VAR.exists():
        shutil.rmtree(VAR)
    VAR.mkdir(parents=True)
    env = {
        "EHR_VAR_DIR": str(VAR),
        "DJANGO_SETTINGS_MODULE": "ehr.settings",
        "IDME_BASE_URL": f"http://127.0.0.1:{port}/idme-sandbox",
        "LOG_LEVEL": "WARNING",
        # A shared 2-core machine: do not let a slow first token request fail the run.
        "IDME_TIMEOUT_SECONDS": "20",
        # process: writers leave sequencing to one dedicated sequencer (docs/scaling.md);
        # thread: each process that records events sequences them in a thread of its own.
        "AUDIT_SEQUENCER_FOLLOWS": "1" if sequencer == "process" else "0",
    }
    os.environ.update(env)
    return env


class RequestCounter:
    """WSGI wrapper counting requests to ID.me's API (not the pharmacy network)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.hits: list[tuple[float, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(("/idme-sandbox/api/", "/idme-sandbox/oauth/")):
            with self.lock:
                self.hits.append((time.monotonic(), path))
        return self.app(environ, start_response)

    def between(self, start: float, end: float) -> int:
        with self.lock:
            return sum(1 for t, _ in self.hits if start <= t <= end)


def serve(port: int) -> RequestCounter:
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

    counter = RequestCounter(WSGIHandler())
    server = ThreadedWSGIServer(("127.0.0.1", port), QuietHandler, allow_reuse_address=True)
    server.daemon_threads = True
    server.set_app(counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return counter


WORKER_COMMAND = [sys.executable, "-m", "celery", "-A", "ehr", "worker", "--pool", "prefork"]
WORKER_COMMAND += ["--loglevel", "INFO", "--without-mingle", "--without-gossip"]


def start_sequencer(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The dedicated sequencer, as deployed with AUDIT_SEQUENCER_FOLLOWS (docs/scaling.md)."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "sequence_audit", "--follow"],
        cwd=ROOT,
        env={**os.environ, **env, "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{VAR / 'db.sqlite3'}")},
        stdout=(VAR / "sequencer.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def start_worker(env: dict[str, str], processes: int) -> subprocess.Popen[bytes]:
    log = VAR / "worker.log"
    process = subprocess.Popen(
        [*WORKER_COMMAND, "--concurrency", str(processes), "--hostname", "bench@%h"],
        cwd=ROOT,
        # The worker uses the benchmark's database: DATABASE_URL when given, else the fresh SQLite file.
        env={**os.environ, **env, "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{VAR / 'db.sqlite3'}")},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if b"ready." in log.read_bytes():
            return process
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise SystemExit(f"the worker did not start:\n{log.read_text()}")


class Prescriber:
    def __init__(self, index: int) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        from django.utils import timezone
        from epcs_seed import epcs_prescriber

        from eprescribe.models import Medication, Pharmacy
        from idme_sandbox import authenticators
        from idme_sandbox.models import Account, Client, Consent, Device, DeviceKind

        client = Client.objects.get()
        account = Account(email=f"bench{index}@example.test", fname="Bench", lname=f"Doctor{index}", ial=2)
        account.identity_verified_at = timezone.now()
        account.password = "!"  # nobody signs in as these (and PBKDF2 would dominate the seeding time)
        account.save()
        Consent.objects.create(account=account, client=client, scope=client.scope)
        self.key = Ed25519PrivateKey.generate()
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        phone = Device.objects.create(
            account=account, kind=DeviceKind.PUSH, name="Phone", public_key=authenticators.encode_b64url(raw)
        )
        seeded = epcs_prescriber(
            index, idme_uuid=account.uuid, device_id=phone.device_id, device_added_at=phone.added_at
        )
        self.seeded = seeded
        self.practice, self.user, self.provider, self.device = (
            seeded.practice,
            seeded.user,
            seeded.provider,
            seeded.device,
        )
        self.pharmacy = Pharmacy.objects.get()
        self.medication = Medication.objects.get()

    def new_prescription(self) -> Any:
        from epcs_seed import ready_prescriptions

        return ready_prescriptions(self.seeded, 1, medication=self.medication, pharmacy=self.pharmacy)[0]

    def start_push(self, rx: Any) -> Any:
        """Start a push ceremony as the page does (eprescribe.ceremony): "Sign selected" checks
        the selection and binds a ceremony to the digests of its review (DEA-19); "Send push"
        checks the ceremony again and pushes what is signed, with the ceremony's subject."""
        from eprescribe import ceremony_binding as binding
        from eprescribe import ceremony_selection as selection
        from mfa import challenges

        # POST /eprescribe/sign/ (ceremony_start)
        ceremony = binding.open_ceremony(
            self.provider, self.practice, selection.load_selection(self.provider, self.practice, [rx.pk])
        )
        # POST /eprescribe/sign/<uuid>/push/ (ceremony_push, via _ready_to_sign)
        prescriptions = binding.current_prescriptions(ceremony)
        if binding.end_if_changed(ceremony, prescriptions).reason is not None:
            raise SystemExit(f"the ceremony of prescription {rx.pk} ended before its push")
        selection.check_selection(self.provider, self.practice, prescriptions)
        unavailable = selection.unavailable_reason()
        if unavailable:
            raise SystemExit(unavailable)
        title, message = selection.push_summary(prescriptions)
        return challenges.start_push_challenge(
            provider=self.provider,
            device=self.device,
            purpose=selection.PURPOSE,
            subject=binding.subject_for(ceremony.pk),
            title=title,
            message=message,
            context={"prescription_ids": [p.pk for p in prescriptions], "ceremony": str(ceremony.pk)},
        )

    def approve(self, challenge: Any) -> float:
        from idme_sandbox import authenticators
        from idme_sandbox.models import PushTransaction

        push = PushTransaction.objects.get(txid=challenge.idme_txid)
        message = authenticators.answer_message(push.txid, "approve", push.match_number)
        authenticators.answer_push(
            push.txid, "approve", push.match_number, authenticators.encode_b64url(self.key.sign(message))
        )
        return time.time()


def seed_shared() -> None:
    from django.conf import settings
    from epcs_seed import pharmacy_and_medication

    from idme_sandbox.oidc.clients import register_client

    register_client(
        client_id=str(settings.IDME_CLIENT_ID),
        secret=str(settings.IDME_CLIENT_SECRET),
        name="EHR Benchmark",
        redirect_uris=["http://127.0.0.1:8000/account/idme/callback/"],
        return_uris=["http://127.0.0.1:8000/mfa/devices/returned/"],
    )
    pharmacy_and_medication()


def signed_at(rx: Any, timeout: float = 120.0) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rx.refresh_from_db(fields=["signed_at"])
        if rx.signed_at:
            return float(rx.signed_at.timestamp())
        time.sleep(0.02)
    return None


def not_signed(challenge: Any) -> SystemExit:
    """Why a ceremony was not signed in time: its challenge's state, as the page would show it."""
    challenge.refresh_from_db()
    return SystemExit(
        f"a ceremony was not signed within 120 s (its challenge is {challenge.status}: "
        f"{challenge.status_reason or 'no reason recorded'}); see var/bench-push/worker.log"
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def report(name: str, latencies: list[float]) -> None:
    print(
        f"{name}: n={len(latencies)} p50={statistics.median(latencies):.3f}s "
        f"p95={percentile(latencies, 0.95):.3f}s max={max(latencies):.3f}s"
    )


def wait_for_transmissions(timeout: float = 180.0) -> None:
    """Let the worker send the signed prescriptions before the next scenario (the poller shares
    the worker with transmission tasks)."""
    from eprescribe.models import Prescription, PrescriptionState

    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not Prescription.objects.filter(state=PrescriptionState.SIGNED).exists():
            break
        time.sleep(0.5)
    print(f"(transmissions drained in {time.monotonic() - start:.1f}s)")


def run_many(prescribers: list[Prescriber], counter: RequestCounter, *, spread: float, label: str) -> None:
    n = len(prescribers)
    rxs = [p.new_prescription() for p in prescribers]
    start_all = time.monotonic()
    pending = [p.start_push(rx) for p, rx in zip(prescribers, rxs, strict=True)]
    created = time.monotonic()
    print(f"[{label}] {n} pushes started in {created - start_all:.1f}s")
    time.sleep(5.0)
    idle_start, idle_end = created + 0.5, time.monotonic()
    idle_rate = counter.between(idle_start, idle_end) / (idle_end - idle_start)
    print(f"[{label}] while {n} wait: {idle_rate:.1f} requests/s to ID.me")
    approve_start = time.monotonic()
    approvals: list[float] = []
    for i, (p, challenge) in enumerate(zip(prescribers, pending, strict=True)):
        if spread:
            time.sleep(max(0.0, approve_start + i * spread / n - time.monotonic()))
        approvals.append(p.approve(challenge))
    approve_end = time.monotonic()
    print(f"[{label}] the phone approved {n} in {approve_end - approve_start:.1f}s")
    latencies: list[float] = []
    for rx, approved, challenge in zip(rxs, approvals, pending, strict=True):
        done = signed_at(rx)
        if done is None:
            raise not_signed(challenge)
        latencies.append(done - approved)
    all_done = time.monotonic()
    report(f"[{label}] {n} pending", latencies)
    busy_rate = counter.between(approve_start, all_done) / max(all_done - approve_start, 1e-6)
    overall = counter.between(start_all, all_done) / max(all_done - start_all, 1e-6)
    print(f"[{label}] while approving and signing: {busy_rate:.1f} requests/s to ID.me")
    print(f"[{label}] whole scenario (incl. {n} push creations): {overall:.1f} requests/s to ID.me")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pending", type=int, default=200, help="ceremonies pending at once (scenario 2)")
    parser.add_argument("--single-runs", type=int, default=20, help="repetitions of scenario 1")
    parser.add_argument("--port", type=int, default=0, help="port for the sandbox (default: a free one)")
    parser.add_argument("--approve-over", type=float, default=60.0, help="seconds over which the N are approved")
    parser.add_argument("--burst", action="store_true", help="also approve N at once as fast as possible")
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=4,
        help="processes of the Celery worker (the poller holds one; completions of a burst run in the others)",
    )
    parser.add_argument(
        "--sequencer",
        choices=("process", "thread"),
        default="process",
        help="who gives audit events their place: one dedicated sequencer process (default, as "
        "docs/scaling.md deploys it for many writers and as benchmarks/write_concurrency.py runs) "
        "or a thread of each process that records events (the setting's default)",
    )
    args = parser.parse_args()

    if not args.port:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            args.port = probe.getsockname()[1]
    env = prepare_environment(args.port, args.sequencer)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    counter = serve(args.port)
    seed_shared()
    prescribers = [Prescriber(i) for i in range(max(args.pending, 1))]
    sequenced_by = "one dedicated process" if args.sequencer == "process" else "a thread of each process"
    print(
        f"seeded {len(prescribers)} prescribers; starting a worker of {args.worker_processes} processes;"
        f" audit events sequenced by {sequenced_by}"
    )
    worker = start_worker(env, args.worker_processes)
    sequencer = start_sequencer(env) if args.sequencer == "process" else None
    try:
        # Scenario 1: one pending ceremony at a time.
        single: list[float] = []
        for run in range(args.single_runs):
            one = prescribers[run % len(prescribers)]  # ID.me allows 10 pushes per 10 minutes each
            rx = one.new_prescription()
            challenge = one.start_push(rx)
            # The clinician reads the number and picks up the phone: a random delay, so the
            # approvals do not fall at the same point of the poller's cycle every time.
            time.sleep(random.uniform(0.5, 1.5))
            approved = one.approve(challenge)
            done = signed_at(rx)
            if done is None:
                raise not_signed(challenge)
            single.append(done - approved)
        report("1 pending", single)

        wait_for_transmissions()
        # Scenario 2: N pending at once; approvals one by one over --approve-over seconds.
        run_many(prescribers[: args.pending], counter, spread=args.approve_over, label="paced")
        # Scenario 3 (stress): N pending at once, all approved as fast as the phone can.
        if args.burst:
            wait_for_transmissions()
            run_many(prescribers[: args.pending], counter, spread=0.0, label="burst")
    finally:
        stop(worker)
        if sequencer is not None:
            stop(sequencer)


if __name__ == "__main__":
    main()
