"""The `crumbless` command line. Every setting is a flag, an env var or a TOML key."""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contract.errors import BadRequest, ConfigError, CrumblessError
from contract.settings import SETTING_FIELDS, Settings, env_name, load_settings
from crumbless import report

# Which settings each kind of command reads. Servers read them all; offline admin commands
# only need to find the storage (plus what their own output depends on), so their --help
# and usage errors show those and nothing else. Every setting can still come from the
# environment or the TOML file.
STORAGE = ("data_dir", "clickhouse_dsn", "database")
RETENTION = (*STORAGE, "raw_ttl_days", "sessions_ttl_days", "hourly_ttl_days",
             "daily_ttl_days", "id_ttl_days", "kafka_retention_hours", "transport",
             "kafka_bootstrap", "kafka_topic", "kafka_dlq_topic")
NOTICE = (*RETENTION, "geoip_db", "salt_grace_hours", "k_anonymity")
EVERY = tuple(SETTING_FIELDS)


def _show_default(value: Any) -> str:
    """A default as a user would type it: `none` for an empty value, lists comma-joined."""
    if isinstance(value, tuple):
        value = ",".join(value)
    return str(value) if value not in ("", None) else "none"


def _add_settings(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    group = parser.add_argument_group("settings (flag > CRUMBLESS_<NAME> env var > TOML file)")
    group.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                       help="TOML file with settings (env: CRUMBLESS_CONFIG)")
    for name in names:
        f = SETTING_FIELDS[name]
        help_text = (f"{f.metadata['help']} (env: {env_name(name)}; "
                     f"default: {_show_default(f.default)})")
        flag = "--" + name.replace("_", "-")
        if f.metadata["choices"]:
            group.add_argument(flag, dest=name, default=argparse.SUPPRESS,
                               choices=f.metadata["choices"], help=help_text)
        else:
            group.add_argument(flag, dest=name, default=argparse.SUPPRESS,
                               metavar=name.upper(), help=help_text)


def _command(sub: Any, name: str, settings: Sequence[str], *, usage: str = "", **kwargs: Any
             ) -> argparse.ArgumentParser:
    """A sub-command with its own arguments and the settings it reads.

    The usage line names the command's own arguments and folds the settings into
    "[options]", so a usage error is a few lines, not every setting.
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        name, usage=f"%(prog)s {usage + ' ' if usage else ''}[options]", **kwargs)
    _add_settings(parser, settings)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="crumbless", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _command(sub, "serve", EVERY,
             help="embedded mode: collector, processor, Stats API and chdb in one process")
    _command(sub, "migrate", EVERY, help="create or upgrade the ClickHouse schema "
             "(and, with --transport kafka, the Kafka topics and their retention)")
    _command(sub, "collector", EVERY, help="distributed mode: a collector publishing to Kafka")
    _command(sub, "processor", EVERY,
             help="distributed mode: a processor group member writing to ClickHouse")
    _command(sub, "dashboard", EVERY, help="distributed mode: the Stats API over ClickHouse")
    wait = _command(sub, "wait", STORAGE, usage="[--timeout SECONDS]",
                    help="wait until every event the running server has accepted is "
                         "written and shows in queries")
    wait.add_argument("--timeout", type=float, default=30.0,
                      help="give up after this many seconds (default: 30)")
    sites = sub.add_parser("sites", help="register sites and their privacy policy")
    sites_sub = sites.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = _command(sites_sub, "add", STORAGE, usage="DOMAIN [--no-consent POLICY] "
                   "[--store-truncated-ip] [--city-geo] [--umami-website-id UUID] "
                   "[--matomo-site-id N] [--matomo-currency CODE] [--timezone ZONE]",
                   help="register or update a site")
    add.add_argument("domain")
    add.add_argument("--no-consent", choices=("drop", "anonymous", "full"), default=None,
                     help="traffic with no consent signal: count it with the daily visitor "
                          "id (a new site's default, legitimate interest), count it without "
                          "an id, or drop it; an existing site keeps its policy unless given; an "
                          "explicit refusal, DNT or GPC never gets an id")
    add.add_argument("--store-truncated-ip", action="store_true",
                     help="keep the /24 (IPv4) or /48 (IPv6) network of each visitor")
    add.add_argument("--city-geo", action="store_true", help="look up the city, not only "
                     "country and region")
    add.add_argument("--umami-website-id", metavar="UUID",
                     help="accept Umami tracker events (POST /api/send) sent with this website "
                          "id (default: keep the current mapping; \"\" removes it)")
    add.add_argument("--matomo-site-id", metavar="N",
                     help="accept Matomo tracker hits (/matomo.php) sent with this idsite "
                          "(default: keep the current mapping; 0 removes it)")
    add.add_argument("--matomo-currency", metavar="CODE",
                     help="ISO 4217 currency of Matomo revenue, which carries none "
                          "(default: keep the current one; USD for a new site)")
    add.add_argument("--timezone", metavar="ZONE",
                     help="IANA time zone of the site's reports, e.g. Europe/Berlin: its days, "
                          "weeks, months and comparisons (default: keep the current one; UTC "
                          "for a new site)")
    listing = _command(sites_sub, "list", STORAGE, usage="[--json]", help="list registered sites")
    listing.add_argument("--json", action="store_true", help="print JSON")
    remove = _command(sites_sub, "remove", STORAGE, usage="DOMAIN", help="unregister a site")
    remove.add_argument("domain")
    retention = sub.add_parser("retention", help="see and change how long data is kept")
    ret_sub = retention.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = _command(ret_sub, "show", RETENTION, usage="[--json]",
                    help="each table's live TTL, rows, bytes, oldest and newest data")
    show.add_argument("--json", action="store_true", help="print JSON")
    for verb, text in (("plan", "dry run: what a change would expire, per table and site"),
                       ("apply", "change a period and apply it to stored rows (audited)")):
        p = _command(ret_sub, verb, RETENTION, help=text,
                     usage="--tier TIER --days N [--site DOMAIN] [--json]"
                     + (" [--yes] [--actor NAME]" if verb == "apply" else ""))
        p.add_argument("--tier", required=True,
                       choices=("raw", "sessions", "hourly", "daily", "ids", "kafka"))
        p.add_argument("--days", required=True, type=int,
                       help="the new period (hours for --tier kafka)")
        p.add_argument("--site", help="override for one site (default: the default period)")
        p.add_argument("--json", action="store_true", help="print JSON")
        if verb == "apply":
            p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
            p.add_argument("--actor", help="who is making the change (default: user@host)")
    audit = _command(ret_sub, "audit", STORAGE, usage="[--json]", help="who changed what, when")
    audit.add_argument("--json", action="store_true", help="print JSON")
    notice = _command(sub, "privacy-notice", NOTICE, usage="[--site DOMAIN] [--format md|html]",
                      help="write the analytics section of a privacy policy from the "
                           "live settings")
    notice.add_argument("--site", help="the site (required when several are registered)")
    notice.add_argument("--format", choices=("md", "html"), default="md")
    users = sub.add_parser("users", help="people who sign in to the dashboards")
    users_sub = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    uadd = _command(users_sub, "add", STORAGE, usage="EMAIL [--admin] [--site DOMAIN] "
                    "[--role owner|viewer] [--password-stdin]",
                    help="create a user (or reset their password); asks for it")
    uadd.add_argument("email")
    uadd.add_argument("--admin", action="store_true",
                      help="sees every site and manages retention")
    uadd.add_argument("--site", action="append", default=[],
                      help="a site the user may see (repeatable)")
    uadd.add_argument("--role", choices=("owner", "viewer"), default="owner",
                      help="role on the --site sites: owner (also shares links) or viewer")
    uadd.add_argument("--password-stdin", action="store_true",
                      help="read the password from standard input instead of asking")
    grant = _command(users_sub, "grant", STORAGE, usage="EMAIL --site DOMAIN [--role ROLE]",
                     help="give a user a role on a site")
    grant.add_argument("email")
    grant.add_argument("--site", required=True)
    grant.add_argument("--role", choices=("owner", "viewer"), default="viewer")
    revoke = _command(users_sub, "revoke", STORAGE, usage="EMAIL --site DOMAIN",
                      help="take a user's role on a site away")
    revoke.add_argument("email")
    revoke.add_argument("--site", required=True)
    _command(users_sub, "list", STORAGE, help="list users and their roles")
    uremove = _command(users_sub, "remove", STORAGE, usage="EMAIL", help="delete a user")
    uremove.add_argument("email")
    goals = sub.add_parser("goals", help="a site's goals: custom events (with a revenue "
                           "currency) and pageview goals")
    goals_sub = goals.add_subparsers(dest="action", required=True, metavar="ACTION")
    gadd = _command(goals_sub, "add", STORAGE, usage="SITE (--event NAME [--currency CODE] | "
                    "--page /PATH) [--display-name NAME]",
                    help="add a goal, or replace the one of the same name")
    gadd.add_argument("site")
    what = gadd.add_mutually_exclusive_group(required=True)
    what.add_argument("--event", metavar="NAME", help="a custom event name, e.g. Signup")
    what.add_argument("--page", metavar="/PATH",
                      help="a pageview goal: a path, `*` within a segment, `**` across")
    gadd.add_argument("--currency", metavar="CODE",
                      help="ISO 4217 currency of the event's revenue, e.g. EUR")
    gadd.add_argument("--display-name", metavar="NAME",
                      help="the goal's name in reports (default: the event's name, or "
                           "\"Visit /PATH\")")
    glist = _command(goals_sub, "list", STORAGE, usage="SITE [--json]",
                     help="list a site's configured goals")
    glist.add_argument("site")
    glist.add_argument("--json", action="store_true", help="print JSON")
    gremove = _command(goals_sub, "remove", STORAGE, usage="SITE NAME",
                       help="remove a goal by its name")
    gremove.add_argument("site")
    gremove.add_argument("name")
    keys = sub.add_parser("keys", help="Stats API keys")
    keys_sub = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = _command(keys_sub, "create", STORAGE, usage="--site DOMAIN",
                      help="create a key for one site; printed once")
    create.add_argument("--site", required=True)
    klist = _command(keys_sub, "list", STORAGE, usage="[--site DOMAIN] [--json]",
                     help="list keys: id, site, created, revoked (never the key itself)")
    klist.add_argument("--site", help="only this site's keys")
    klist.add_argument("--json", action="store_true", help="print JSON")
    krevoke = _command(keys_sub, "revoke", STORAGE, usage="KEY_OR_ID",
                       help="revoke a key at once, named by the key or its id from `keys list`")
    krevoke.add_argument("key", metavar="KEY_OR_ID")
    return parser


def settings_from(args: argparse.Namespace, env: dict[str, str]) -> Settings:
    """Settings from parsed flags and the environment (main() is the only env reader)."""
    flags = {name: getattr(args, name) for name in SETTING_FIELDS if hasattr(args, name)}
    return load_settings(flags=flags, env=env, config_file=getattr(args, "config", None))


def first_line(exc: BaseException) -> str:
    """The first line of an error's text, without a stack trace."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def prepare_data_dir(settings: Settings) -> None:
    """Create the data directory (0700) or raise ConfigError saying why it cannot be used."""
    from crumbless.runtime import ensure_private_dir

    try:
        ensure_private_dir(settings.data_dir)
    except OSError as exc:
        raise ConfigError(f"data_dir {settings.data_dir}: cannot create or use it "
                          f"({exc.strerror or exc}); pass --data-dir with a directory you "
                          "can write") from exc


def _admin(settings: Settings, *, ensure_schema: bool = True) -> Any:
    """The running server's admin API, or the storage opened here (schema created first)."""
    from crumbless.admin import DirectAdmin, find_server

    remote = find_server(settings.data_dir)
    if remote is not None:
        return remote
    if settings.dsn.startswith("chdb://"):
        new = not settings.data_dir.exists()
        prepare_data_dir(settings)
        if new:  # a user in the wrong folder notices before their data goes astray
            print(f"crumbless: created a new data directory {settings.data_dir.resolve()} "
                  "(pass --data-dir to use another)", file=sys.stderr)
    from sinks.client import connect
    from sinks.migrations import migrate

    client = connect(settings.dsn, settings.database)
    if ensure_schema:  # as serve does: the first command on a fresh directory just works
        migrate(client, settings)
    return DirectAdmin(client, settings)


def _wait(settings: Settings, timeout: float) -> int:
    from crumbless.admin import find_server

    remote = find_server(settings.data_dir)
    if remote is None:
        print(f"crumbless: no server is running on {settings.data_dir}; events already "
              "accepted are written when `crumbless serve` starts", file=sys.stderr)
        return 1
    if remote.drain(timeout):
        print("every accepted event is written and shows in queries")
        return 0
    print(f"crumbless: events are still being written after {timeout:g} s", file=sys.stderr)
    return 1


def run(argv: Sequence[str], env: dict[str, str]) -> int:
    """Execute one command; return the exit status."""
    args = build_parser().parse_args(argv)
    settings = settings_from(args, env)
    logging.getLogger().setLevel(settings.log_level.upper())
    if args.command in ("serve", "collector", "dashboard", "processor"):
        prepare_data_dir(settings)
    if args.command in ("serve", "processor"):  # the processes that run a processor
        from processors.gc_tuning import tune_gc

        tune_gc()
    if args.command == "serve":
        from crumbless.server import serve

        serve(settings)
        return 0
    if args.command in ("collector", "dashboard", "processor"):
        from crumbless import distributed
        from crumbless.server import serve

        if args.command == "processor":
            distributed.run_processor(settings)
        else:
            serve(settings, distributed.collector_app if args.command == "collector"
                  else distributed.dashboard_app)
        return 0
    if args.command == "wait":
        return _wait(settings, args.timeout)
    admin = _admin(settings, ensure_schema=args.command != "migrate")
    if args.command == "migrate":
        applied = admin.migrate()
        print(f"applied migrations: {applied}" if applied else "schema is up to date")
        if settings.transport == "kafka":
            from contract.transports.kafka_topics import ensure_topics

            for topic, config in ensure_topics(settings).items():
                print(f"topic {topic}: retention.ms={config['retention.ms']}")
    elif args.command == "sites" and args.action == "add":
        mapping = {k: getattr(args, k) for k in ("umami_website_id", "matomo_site_id",
                                                 "matomo_currency", "timezone")
                   if getattr(args, k) is not None}
        site = admin.add_site(args.domain, no_consent=args.no_consent,
                              store_truncated_ip=args.store_truncated_ip,
                              city_geo=args.city_geo, **mapping)
        print(f"registered {site['domain']} (no consent: {site['no_consent']}, truncated IP: "
              f"{'kept' if site['store_truncated_ip'] else 'not kept'}, city: "
              f"{'on' if site['city_geo'] else 'off'}, Umami website id: "
              f"{site['umami_website_id'] or 'none'}, Matomo site id: "
              f"{site['matomo_site_id'] or 'none'})")
    elif args.command == "sites" and args.action == "list":
        listed = admin.list_sites()
        print(json.dumps(listed, indent=2) if args.json else report.sites(listed))
    elif args.command == "sites" and args.action == "remove":
        admin.remove_site(args.domain)
        print(f"removed {args.domain}")
    elif args.command == "retention":
        return _retention(admin, args, env)
    elif args.command == "privacy-notice":
        print(admin.privacy_notice(args.site, args.format), end="")
    elif args.command == "users":
        return _users(admin, args)
    elif args.command == "keys":
        _keys(admin, args)
    elif args.command == "goals":
        _goals(admin, args)
    return 0


def _goals(admin: Any, args: argparse.Namespace) -> None:
    if args.action == "add":
        goal = {k: getattr(args, k) for k in ("event", "page", "currency", "display_name")
                if getattr(args, k) is not None}
        added = admin.add_goal(args.site, **goal)
        print(f"goal {added['name']!r} of {args.site}: " + report.goal_text(added))
    elif args.action == "list":
        listed = admin.list_goals(args.site)
        print(json.dumps(listed, indent=2) if args.json else report.goals(listed))
    else:
        admin.remove_goal(args.site, args.name)
        print(f"removed goal {args.name!r} of {args.site}")


def _keys(admin: Any, args: argparse.Namespace) -> None:
    if args.action == "list":
        listed = admin.list_keys(args.site)
        print(json.dumps(listed, indent=2) if args.json else report.keys(listed))
    elif args.action == "revoke":
        done = admin.revoke_key(args.key)
        print(f"revoked key {done['id']} of {done['site']}")
    else:
        key = admin.create_key(args.site)
        print(key)
        print(f"(Stats API key for {args.site}; shown once, stored only as a hash)",
              file=sys.stderr)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():  # getpass would read a pipe, or fail with EOFError
        raise BadRequest("no terminal to ask for the password: pipe it in with "
                         "--password-stdin (e.g. `printf '%s\\n' \"$PW\" | crumbless "
                         "users add EMAIL --password-stdin`)")
    import getpass

    first = getpass.getpass("password (10+ characters): ")
    if first != getpass.getpass("again: "):
        raise BadRequest("the two passwords differ")
    return first


def _users(admin: Any, args: argparse.Namespace) -> int:
    if args.action == "add":
        from dashboards.ui.auth import hash_password

        try:
            hashed = hash_password(_read_password(args))
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        email = admin.add_user(args.email, hashed, args.admin)
        for site in args.site:
            admin.grant(email, site, args.role)
        sites = ", ".join(f"{s} ({args.role})" for s in args.site) or "no site yet"
        print(f"user {email}{' (admin: every site)' if args.admin else ''}: {sites}")
    elif args.action == "grant":
        admin.grant(args.email, args.site, args.role)
        print(f"{args.email} is {args.role} of {args.site}")
    elif args.action == "revoke":
        admin.revoke(args.email, args.site)
        print(f"{args.email} no longer sees {args.site}")
    elif args.action == "list":
        print(json.dumps(admin.list_users(), indent=2))
    elif args.action == "remove":
        admin.remove_user(args.email)
        print(f"removed {args.email}")
    return 0


def default_actor(env: dict[str, str]) -> str:
    """Who runs an audited command: $USER or $LOGNAME, else the CLI's uid (never empty)."""
    return env.get("USER") or env.get("LOGNAME") or f"cli-uid{os.getuid()}"


def _retention(admin: Any, args: argparse.Namespace, env: dict[str, str]) -> int:
    if args.action == "show":
        shown = admin.retention_show()
        print(json.dumps(shown, indent=2) if args.json else report.retention_show(shown))
        return 0
    if args.action == "audit":
        entries = admin.retention_audit()
        print(json.dumps(entries, indent=2) if args.json else report.retention_audit(entries))
        return 0
    plan = admin.retention_plan(args.site, args.tier, args.days)
    if args.action == "plan":
        print(json.dumps(plan, indent=2) if args.json else report.retention_plan(plan))
        return 0
    if not args.json:
        print(report.retention_plan(plan))
    if not args.yes:
        if not sys.stdin.isatty():
            print("crumbless: not a terminal; pass --yes to apply", file=sys.stderr)
            return 2
        if input("apply this change? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing changed")
            return 1
    actor = args.actor or f"{default_actor(env)}@{socket.gethostname()}"
    done = admin.retention_apply(args.site, args.tier, args.days, actor)
    print(json.dumps(done, indent=2) if args.json else report.retention_applied(done))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: the one place that reads os.environ; never shows a traceback."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        status = run(sys.argv[1:] if argv is None else argv, dict(os.environ))
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at exit
        return status
    except CrumblessError as exc:
        print(f"crumbless: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `crumbless users list | head`: the reader left; no message
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush is quiet
        return 141  # as a program ended by SIGPIPE (128 + 13)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"crumbless: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: one line for the user, the type for the report
        print(f"crumbless: unexpected {type(exc).__name__}: {first_line(exc)} (please report "
              "this with the command you ran)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
