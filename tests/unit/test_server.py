"""Small pure parts of crumbless/server.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.errors import ConfigError
from crumbless.server import _listen, admin_socket_path, error_body


def test_ipv6_hosts_are_bracketed_so_serve_host_any_v6_works() -> None:
    assert _listen("::", 8000) == "[::]:8000"
    assert _listen("::1", 8000) == "[::1]:8000"
    assert _listen("0.0.0.0", 8000) == "0.0.0.0:8000"


def test_error_bodies_are_one_line_of_json() -> None:
    assert error_body(400, 'Bad Request: "x"\nmore') == b'{"error":"Bad Request: \\"x\\"\\nmore"}\n'


def test_a_data_dir_too_deep_for_a_unix_socket_is_a_one_line_config_error(
        tmp_path: Path) -> None:
    assert admin_socket_path(tmp_path).name == "admin.sock"
    with pytest.raises(ConfigError, match="data_dir"):
        admin_socket_path(tmp_path / ("d" * 120))
