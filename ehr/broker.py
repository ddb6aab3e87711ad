"""The embedded default's message broker: kombu's filesystem transport, written atomically.

kombu's filesystem transport creates a message file and only then writes into it. A worker
that lists the queue folder in between moves the empty file away, fails to decode it
("Unrecoverable error: JSONDecodeError") and stops; the message is lost. Here a message
is written to a file whose name no queue matches and then renamed into place (an atomic
`os.replace` within one folder), so a reader sees a whole message or nothing.

Selected in settings with `CELERY_BROKER_TRANSPORT = "ehr.broker:Transport"` when no
REDIS_URL is set. Redis (production) is unaffected.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]  # kombu's stubs disagree (message vs payload)
        """Put `payload` onto `queue`: write it whole under a private name, then rename."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # "partial-<uuid>.tmp": the text after the first dot is "tmp", which no queue reads.
        partial = os.path.join(self.data_folder_out, f"partial-{uuid.uuid4()}.tmp")
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
