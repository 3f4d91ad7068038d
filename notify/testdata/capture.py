"""An aiosmtpd handler that writes every message it accepts to a directory.

    python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c capture.Capture DIR

(with this directory on PYTHONPATH). Each message becomes DIR/<n>.eml, the
bytes as received, after an X-Envelope-To line naming the SMTP recipients;
it is written under a temporary name and renamed, so a reader never sees
half a message.
"""

import os
import time
import uuid


class Capture:
    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("Capture takes one argument: the directory to write to")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        name = "%020d-%s" % (time.time_ns(), uuid.uuid4().hex)
        tmp = os.path.join(self.directory, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(("X-Envelope-To: %s\r\n" % ",".join(envelope.rcpt_tos)).encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.directory, name + ".eml"))
        return "250 Message accepted for delivery"
