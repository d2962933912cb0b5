"""The `mifumo` command.

mifumo serve       everything on one machine, embedded defaults (SQLite + private Redis)
mifumo web         the web server alone          } scale-out: configured by DATABASE_URL,
mifumo worker      a Celery worker               } REDIS_URL, CELERY_BROKER_URL and
mifumo scheduler   the Celery beat scheduler     } SECRET_KEY (MIFUMO_MODE=scale-out)
mifumo manage ...  Django's management commands
mifumo simulator   a stand-in for the SMS vendors (Beem, Arkesel, Africa's Talking, Twilio)
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from mifumo.observability import multiproc

PYTHON = sys.executable


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mifumo.settings")
    import django

    django.setup()


def web_command(host: str, port: int, workers: int, threads: int) -> list[str]:
    return [
        PYTHON,
        "-m",
        "gunicorn",
        "mifumo.wsgi:application",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--timeout",
        "60",
        "--graceful-timeout",
        "15",
        "--access-logfile",
        "-",
        "--error-logfile",
        "-",
        # gunicorn 27's control socket lives in ~/.gunicorn by default: outside the data dir,
        # and shared by every instance on the machine. Nothing here uses it.
        "--no-control-socket",
    ]


def worker_command(concurrency: int, extra: list[str]) -> list[str]:
    return [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "mifumo",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        str(concurrency),
        *extra,
    ]


def scheduler_command(schedule_file: Path, extra: list[str]) -> list[str]:
    return [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "mifumo",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(schedule_file),
        "--pidfile=",
        *extra,
    ]


def simulator_command(host: str, port: int, extra: list[str] | None = None) -> list[str]:
    return [PYTHON, "-m", "mifumo.cli", "simulator", "--host", host, "--port", str(port)] + (
        extra or []
    )


# --- mifumo simulator ---------------------------------------------------------------------------


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a rate is between 0 and 1, not {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
    return value


def add_simulator_parser(commands) -> None:
    parser = commands.add_parser(
        "simulator",
        help="a stand-in for the SMS vendors, for trying Mifumo and for benchmarks",
        description="Serve Beem, Arkesel, Africa's Talking and Twilio's SMS APIs on one port, "
        "record what arrives (GET /_simulator/messages, /_simulator/stats) and post delivery "
        "reports back. Point <VENDOR>_BASE_URL at it.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9090, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=_non_negative, default=0.0)
    parser.add_argument(
        "--failure-rate", type=_rate, default=0.0, help="share of sends answered 500"
    )
    parser.add_argument(
        "--rate-429", type=_rate, default=0.0, help="share of sends answered 429 Retry-After"
    )
    parser.add_argument("--retry-after", type=int, default=1, help="seconds, in 429 answers")
    parser.add_argument(
        "--drop-rate",
        type=_rate,
        default=0.0,
        help="share of sends recorded, then the connection closed without an answer",
    )
    parser.add_argument("--dlr-delay-ms", type=_non_negative, default=500.0)
    parser.add_argument(
        "--dlr-failure-rate", type=_rate, default=0.0, help="share of reports saying failed"
    )
    parser.add_argument(
        "--callback-url",
        default="",
        help="where delivery reports go when a request names none; {vendor} is replaced "
        "by beem, arkesel, africastalking or twilio",
    )
    parser.add_argument(
        "--down-for", type=_non_negative, default=0.0, help="answer 503 for this many seconds"
    )
    parser.add_argument("--seed", type=int, default=None, help="repeatable fault decisions")


def simulator(args: argparse.Namespace) -> int:
    from mifumo.delivery.simulator import SimulatorConfig, run

    try:
        config = SimulatorConfig(
            latency_ms=args.latency_ms,
            failure_rate=args.failure_rate,
            rate_429=args.rate_429,
            retry_after=args.retry_after,
            drop_rate=args.drop_rate,
            dlr_delay_ms=args.dlr_delay_ms,
            dlr_failure_rate=args.dlr_failure_rate,
            callback_url=args.callback_url,
            down_until=time.time() + args.down_for if args.down_for else 0.0,
        )
    except ValueError as error:
        print(f"mifumo simulator: {error}", file=sys.stderr)
        return 2
    run(args.host, args.port, config, seed=args.seed, announce=lambda line: print(line, flush=True))
    return 0


# --- mifumo serve -------------------------------------------------------------------------------


def _ini_quote(argv: list[str]) -> str:
    """One supervisord `command=` line: shell-style quoting, `%` escaped for its interpolation."""
    import shlex

    return " ".join(shlex.quote(arg) for arg in argv).replace("%", "%%")


def _program(name: str, argv: list[str], *, priority: int, stop_wait: int) -> str:
    return f"""
[program:{name}]
command={_ini_quote(argv)}
priority={priority}
autostart=true
autorestart=true
startsecs=1
startretries=100
stopsignal=TERM
stopwaitsecs={stop_wait}
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
"""


SMS_VENDORS = ("beem", "arkesel", "africastalking", "twilio")


def _simulate_sms(directory: Path, base_url: str) -> int | None:
    """With no SMS vendor configured, route SMS to the built-in simulator, through the same
    adapter code that talks to real vendors. Returns the simulator's port, or None."""
    configured = os.environ.get("SMS_PROVIDER") or any(
        os.environ.get(f"{vendor.upper()}_API_KEY") for vendor in SMS_VENDORS
    )
    if configured:
        return None
    from mifumo.embedded import embedded_secret_key

    port = _free_port()
    os.environ.update(
        SMS_PROVIDER="arkesel",
        ARKESEL_BASE_URL=f"http://127.0.0.1:{port}",
        ARKESEL_API_KEY="simulator",
        ARKESEL_SENDER_ID=os.environ.get("ARKESEL_SENDER_ID", "MIFUMO"),
        ARKESEL_WEBHOOK_SECRET=embedded_secret_key(directory, "simulator_webhook_secret"),
    )
    os.environ.setdefault("MIFUMO_PUBLIC_URL", base_url)
    return port


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def supervisor_config(
    directory: Path,
    host: str,
    port: int,
    web_workers: int,
    private_redis: bool,
    simulator_port: int | None = None,
) -> str:
    """The process tree of `mifumo serve`. supervisord restarts any child that dies, starts
    them in priority order and stops them in reverse (Redis last), each with its whole group."""
    from mifumo.embedded import redis_server_command

    logs = directory / "logs"
    logs.mkdir(exist_ok=True)
    sections = [
        f"""[supervisord]
nodaemon=true
logfile={str(logs / "supervisord.log").replace("%", "%%")}
logfile_maxbytes=5MB
logfile_backups=2
pidfile={str(directory / "supervisord.pid").replace("%", "%%")}
childlogdir={str(logs).replace("%", "%%")}
loglevel=warn
{"user=root" if os.geteuid() == 0 else ""}
"""
    ]
    if private_redis:
        sections.append(
            _program("redis", redis_server_command(directory), priority=10, stop_wait=10)
        )
    if simulator_port is not None:
        sections.append(
            _program(
                "simulator",
                simulator_command("127.0.0.1", simulator_port, ["--dlr-delay-ms", "1500"]),
                priority=15,
                stop_wait=10,
            )
        )
    sections.append(
        _program("web", web_command(host, port, web_workers, 4), priority=20, stop_wait=20)
    )
    sections.append(_program("worker", worker_command(2, []), priority=20, stop_wait=45))
    sections.append(
        _program(
            "scheduler",
            scheduler_command(directory / "celerybeat-schedule", []),
            priority=20,
            stop_wait=10,
        )
    )
    announce_argv = [PYTHON, "-m", "mifumo.cli", "_announce", _base_url(host, port)]
    if simulator_port is not None:
        announce_argv += ["--simulator", f"http://127.0.0.1:{simulator_port}"]
    announce = _program(
        "announce",
        announce_argv,
        priority=30,
        stop_wait=5,
    )
    # A one-shot helper: it prints the address once /healthz answers, then exits for good.
    sections.append(
        announce.replace("autorestart=true", "autorestart=false").replace(
            "startsecs=1", "startsecs=0"
        )
    )
    return "\n".join(sections)


def _base_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in {"0.0.0.0", ""} else host  # noqa: S104 - display only
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}"


def _port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def serve(args: argparse.Namespace) -> int:
    os.environ["MIFUMO_MODE"] = "embedded"
    from mifumo.embedded import data_dir

    directory = data_dir()
    os.environ["MIFUMO_DATA_DIR"] = str(directory)
    if not _port_is_free(args.host, args.port):
        print(
            f"mifumo: {args.host}:{args.port} is in use; choose another with --port",
            file=sys.stderr,
        )
        return 2
    # Before Django reads the settings: the simulator's account is configured by env.
    simulator_port = _simulate_sms(directory, _base_url(args.host, args.port))
    # Web, worker and scheduler share one metrics directory, emptied now: they all start anew.
    multiproc.prepare(directory, clear_all=True)
    _setup_django()
    from django.core.management import call_command

    print(f"Mifumo: data in {directory}; applying database migrations…", flush=True)
    call_command("migrate", interactive=False, verbosity=0)
    private_redis = not os.environ.get("REDIS_URL")
    config_path = directory / "supervisord.conf"
    config_path.write_text(
        supervisor_config(
            directory, args.host, args.port, args.web_workers, private_redis, simulator_port
        )
    )
    print("Mifumo: starting the web server, worker and scheduler…", flush=True)
    os.execv(PYTHON, [PYTHON, "-m", "supervisor.supervisord", "-n", "-c", str(config_path)])  # noqa: S606
    return 0  # not reached


def announce(base_url: str, simulator_url: str = "", timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    else:
        print(f"Mifumo: {base_url}/healthz did not answer within {timeout:.0f}s", flush=True)
        return 1
    simulator_note = (
        f"  No SMS provider is configured: SMS go to the built-in simulator, which answers\n"
        f"  like a vendor and reports delivery. See what it received at\n"
        f"    {simulator_url}/_simulator/messages\n"
        if simulator_url
        else ""
    )
    example = (
        '{"organization": "My School", "name": "Your Name", '
        '"email": "you@example.org", "password": "a long passphrase", "country": "TZ"}'
    )
    print(
        f"""
  Mifumo is ready at {base_url}/
  API documentation:  {base_url}/api/docs/
  Create the first account (your organisation and its admin):
    curl -X POST {base_url}/api/auth/register/ -H 'Content-Type: application/json' \\
      -d '{example}'
{simulator_note}  Stop with Ctrl-C.
""",
        flush=True,
    )
    return 0


# --- scale-out parts ---------------------------------------------------------------------------


def _exec(argv: list[str]) -> int:
    sys.stdout.flush()
    os.execv(argv[0], argv)  # noqa: S606 - argv built by this module
    return 0  # not reached


def _scale_out_defaults() -> None:
    os.environ.setdefault("MIFUMO_MODE", "scale-out")
    # Fail here, with the variable's name, rather than inside a child process.
    _setup_django()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mifumo", description="Bulk SMS and e-mail platform.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="run everything here on embedded defaults")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument("--web-workers", type=int, default=2)

    web_parser = commands.add_parser("web", help="run the web server (scale-out)")
    web_parser.add_argument("--host", default="127.0.0.1")
    web_parser.add_argument("--port", type=int, default=8000)
    web_parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2"))
    )
    web_parser.add_argument("--threads", type=int, default=4)

    worker_parser = commands.add_parser("worker", help="run a Celery worker (scale-out)")
    worker_parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)

    commands.add_parser("scheduler", help="run the Celery beat scheduler (scale-out; one only)")
    commands.add_parser("manage", help="Django management commands", add_help=False)
    add_simulator_parser(commands)
    announce_parser = commands.add_parser("_announce")
    announce_parser.add_argument("base_url")
    announce_parser.add_argument("--simulator", default="")

    args, extra = parser.parse_known_args(argv)
    if args.command == "manage":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mifumo.settings")
        from django.core.management import execute_from_command_line

        remainder = (argv if argv is not None else sys.argv[1:])[1:]
        execute_from_command_line(["mifumo manage", *remainder])
        return 0
    if extra and args.command not in {"worker", "scheduler"}:
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    if args.command == "serve":
        return serve(args)
    if args.command == "_announce":
        return announce(args.base_url, args.simulator)
    if args.command == "simulator":
        return simulator(args)
    if args.command in {"web", "worker"}:
        from mifumo.embedded import data_dir

        # Before prometheus_client is imported anywhere: it reads the variable once.
        multiproc.prepare(data_dir(), clear_all=False)
    _scale_out_defaults()
    if args.command == "web":
        return _exec(web_command(args.host, args.port, args.workers, args.threads))
    if args.command == "worker":
        return _exec(worker_command(args.concurrency, extra))
    from mifumo.embedded import data_dir

    return _exec(scheduler_command(data_dir() / "celerybeat-schedule", extra))


if __name__ == "__main__":
    sys.exit(main())
