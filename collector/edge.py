"""The collector's privacy edge as one process holds it: salts, geo, bot filter, anonymiser,
and the background rotation that creates tomorrow's salt and destroys expired ones."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from collector.bots import BotFilter
from collector.geo import GeoLookup
from collector.pipeline import Anonymiser
from collector.salts import SaltRotation, SaltStore
from contract.settings import Settings

log = logging.getLogger(__name__)
ROTATION_INTERVAL_S = 60


class PrivacyEdge:
    """Everything the privacy transform needs, built from settings and a salt store."""

    def __init__(self, settings: Settings, store: SaltStore,
                 clock: Callable[[], dt.datetime]) -> None:
        self.clock = clock
        self.salts = SaltRotation(store, dt.timedelta(hours=settings.salt_grace_hours))
        self.salts.rotate(clock())
        self.geo = GeoLookup(Path(settings.geoip_db) if settings.geoip_db else None)
        self.anonymiser = Anonymiser(salts=self.salts, geo=self.geo, bots=BotFilter(),
                                     clock=clock)
        self._stop = threading.Event()

    def start_rotation(self) -> None:
        """Rotate salts every minute in a daemon thread until close()."""
        threading.Thread(target=self._rotate, daemon=True, name="crumbless-salt-rotation").start()

    def _rotate(self) -> None:
        while not self._stop.wait(ROTATION_INTERVAL_S):
            try:
                destroyed = self.salts.rotate(self.clock())
                if destroyed:
                    log.info("destroyed salts of %s", ", ".join(map(str, destroyed)))
            except Exception as exc:  # a store outage must not end rotation; next minute retries
                log.error("salt rotation failed: %s", type(exc).__name__)

    def close(self) -> None:
        """Stop rotating and close the geo database."""
        self._stop.set()
        self.geo.close()
