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

from contract.errors import BadRequest, CrumblessError
from contract.settings import SETTING_FIELDS, Settings, env_name, load_settings


def _settings_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("settings (flag > CRUMBLESS_<NAME> env var > TOML file)")
    group.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                       help="TOML file with settings (env: CRUMBLESS_CONFIG)")
    for name, f in SETTING_FIELDS.items():
        default = f.default if f.default is not None else ""
        help_text = f"{f.metadata['help']} (env: {env_name(name)}; default: {default!s})"
        if f.metadata["choices"]:
            group.add_argument("--" + name.replace("_", "-"), dest=name, default=argparse.SUPPRESS,
                               choices=f.metadata["choices"], help=help_text)
        else:
            group.add_argument("--" + name.replace("_", "-"), dest=name, default=argparse.SUPPRESS,
                               metavar=name.upper(), help=help_text)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and docs)."""
    common = _settings_parser()
    parser = argparse.ArgumentParser(prog="crumbless", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", parents=[common],
                   help="embedded mode: collector, processor, Stats API and chdb in one process")
    sub.add_parser("migrate", parents=[common], help="create or upgrade the ClickHouse schema "
                   "(and, with --transport kafka, the Kafka topics and their retention)")
    sub.add_parser("collector", parents=[common],
                   help="distributed mode: a collector publishing to Kafka")
    sub.add_parser("processor", parents=[common],
                   help="distributed mode: a processor group member writing to ClickHouse")
    sub.add_parser("dashboard", parents=[common],
                   help="distributed mode: the Stats API over ClickHouse")
    sites = sub.add_parser("sites", help="register sites and their privacy policy")
    sites_sub = sites.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sites_sub.add_parser("add", parents=[common], help="register or update a site")
    add.add_argument("domain")
    add.add_argument("--no-consent", choices=("drop", "anonymous", "full"), default=None,
                     help="traffic with no consent signal: count it with the daily visitor id "
                          "(a new site's default, legitimate interest), count it without an id, or "
                          "drop it; an existing site keeps its policy unless given; an "
                          "explicit refusal, DNT or GPC never gets an id")
    add.add_argument("--store-truncated-ip", action="store_true",
                     help="keep the /24 (IPv4) or /48 (IPv6) network of each visitor")
    add.add_argument("--city-geo", action="store_true", help="look up the city, not only "
                     "country and region")
    sites_sub.add_parser("list", parents=[common], help="list registered sites")
    remove = sites_sub.add_parser("remove", parents=[common], help="unregister a site")
    remove.add_argument("domain")
    retention = sub.add_parser("retention", help="see and change how long data is kept")
    ret_sub = retention.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = ret_sub.add_parser("show", parents=[common],
                              help="each table's live TTL, rows, bytes, oldest and newest data")
    show.add_argument("--json", action="store_true", help="print JSON")
    for verb, text in (("plan", "dry run: what a change would expire, per table and site"),
                       ("apply", "change a period and apply it to stored rows (audited)")):
        p = ret_sub.add_parser(verb, parents=[common], help=text)
        p.add_argument("--tier", required=True,
                       choices=("raw", "sessions", "hourly", "daily", "ids", "kafka"))
        p.add_argument("--days", required=True, type=int,
                       help="the new period (hours for --tier kafka)")
        p.add_argument("--site", help="override for one site (default: the default period)")
        p.add_argument("--json", action="store_true", help="print JSON")
        if verb == "apply":
            p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
            p.add_argument("--actor", help="who is making the change (default: user@host)")
    ret_sub.add_parser("audit", parents=[common], help="who changed what, when")
    notice = sub.add_parser("privacy-notice", parents=[common],
                            help="write the analytics section of a privacy policy from the "
                                 "live settings")
    notice.add_argument("--site", help="the site (required when several are registered)")
    notice.add_argument("--format", choices=("md", "html"), default="md")
    users = sub.add_parser("users", help="people who sign in to the dashboards")
    users_sub = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    uadd = users_sub.add_parser("add", parents=[common],
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
    grant = users_sub.add_parser("grant", parents=[common], help="give a user a role on a site")
    grant.add_argument("email")
    grant.add_argument("--site", required=True)
    grant.add_argument("--role", choices=("owner", "viewer"), default="viewer")
    revoke = users_sub.add_parser("revoke", parents=[common],
                                  help="take a user's role on a site away")
    revoke.add_argument("email")
    revoke.add_argument("--site", required=True)
    users_sub.add_parser("list", parents=[common], help="list users and their roles")
    uremove = users_sub.add_parser("remove", parents=[common], help="delete a user")
    uremove.add_argument("email")
    keys = sub.add_parser("keys", help="Stats API keys")
    keys_sub = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", parents=[common],
                                 help="create a key for one site; printed once")
    create.add_argument("--site", required=True)
    return parser


def settings_from(args: argparse.Namespace, env: dict[str, str]) -> Settings:
    """Settings from parsed flags and the environment (main() is the only env reader)."""
    flags = {name: getattr(args, name) for name in SETTING_FIELDS if hasattr(args, name)}
    return load_settings(flags=flags, env=env, config_file=getattr(args, "config", None))


def _admin(settings: Settings) -> Any:
    from crumbless.admin import DirectAdmin, find_server

    remote = find_server(settings.data_dir)
    if remote is not None:
        return remote
    from sinks.client import connect

    return DirectAdmin(connect(settings.dsn, settings.database), settings)


def run(argv: Sequence[str], env: dict[str, str]) -> int:
    """Execute one command; return the exit status."""
    args = build_parser().parse_args(argv)
    settings = settings_from(args, env)
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
    admin = _admin(settings)
    if args.command == "migrate":
        applied = admin.migrate()
        print(f"applied migrations: {applied}" if applied else "schema is up to date")
        if settings.transport == "kafka":
            from contract.transports.kafka_topics import ensure_topics

            for topic, config in ensure_topics(settings).items():
                print(f"topic {topic}: retention.ms={config['retention.ms']}")
    elif args.command == "sites" and args.action == "add":
        site = admin.add_site(args.domain, no_consent=args.no_consent,
                              store_truncated_ip=args.store_truncated_ip,
                              city_geo=args.city_geo)
        print(f"registered {site['domain']} (no consent: {site['no_consent']}, truncated IP: "
              f"{'kept' if site['store_truncated_ip'] else 'not kept'}, city: "
              f"{'on' if site['city_geo'] else 'off'})")
    elif args.command == "sites" and args.action == "list":
        print(json.dumps(admin.list_sites(), indent=2))
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
        key = admin.create_key(args.site)
        print(key)
        print(f"(Stats API key for {args.site}; shown once, stored only as a hash)",
              file=sys.stderr)
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
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


def _print_plan(plan: dict[str, Any]) -> None:
    print(f"{plan['tier']} for {plan['site']}: {plan['old']} → {plan['new']} {plan['unit']}")
    if plan["expires_now"]:
        print(f"{'table':<14} {'site':<24} {'rows':>10} {'~bytes':>12}  days affected")
        for e in plan["expires_now"]:
            print(f"{e['table']:<14} {e['site']:<24} {e['rows']:>10} {e['bytes_estimate']:>12}"
                  f"  {e['first_day']} … {e['last_day']} ({e['what']})")
    else:
        print("nothing stored expires because of this change")
    print(f"method: {plan['method']}")


def _retention(admin: Any, args: argparse.Namespace, env: dict[str, str]) -> int:
    if args.action == "show":
        shown = admin.retention_show()
        if args.json:
            print(json.dumps(shown, indent=2))
            return 0
        for t in shown["tables"]:
            print(f"{t['table']}: TTL {t['ttl'] or '(none)'}; {t['rows']} rows, "
                  f"{t['bytes']} bytes")
            for column, ttl in t["column_ttls"].items():
                print(f"  column {column}: TTL {ttl}")
            for site in t["sites"]:
                print(f"  {site['site']}: {site['rows']} rows, ~{site['bytes_estimate']} bytes,"
                      f" {site['oldest']} … {site['newest']}, keep {site['keep_days']} days")
        print("policy (default):", json.dumps(shown["policy"]["default"]))
        for site, days in shown["policy"]["overrides"].items():
            print(f"policy override {site}:", json.dumps(days))
        print("salts:", shown["salts"]["lifetime"])
        return 0
    if args.action == "audit":
        for entry in admin.retention_audit():
            print(f"{entry['at']} {entry['actor']}: {entry['tier']} for {entry['site']} "
                  f"{entry['old']} → {entry['new']} ({entry['action']})")
        return 0
    plan = admin.retention_plan(args.site, args.tier, args.days)
    if args.action == "plan":
        print(json.dumps(plan, indent=2)) if args.json else _print_plan(plan)
        return 0
    if not args.json:
        _print_plan(plan)
    if not args.yes:
        if not sys.stdin.isatty():
            print("crumbless: not a terminal; pass --yes to apply", file=sys.stderr)
            return 2
        if input("apply this change? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing changed")
            return 1
    actor = args.actor or f"{env.get('USER', 'unknown')}@{socket.gethostname()}"
    done = admin.retention_apply(args.site, args.tier, args.days, actor)
    if args.json:
        print(json.dumps(done, indent=2))
        return 0
    for step in done["steps"]:
        print("done:", json.dumps(step))
    for table, removed in done["removed"].items():
        print(f"{table}: {removed} {'ids zeroed' if args.tier == 'ids' else 'rows removed'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: the one place that reads os.environ."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run(sys.argv[1:] if argv is None else argv, dict(os.environ))
    except CrumblessError as exc:
        print(f"crumbless: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
