#!/usr/bin/python3
"""stall_nbd.py — an NBD server on a unix socket that completes the
handshake (fixed newstyle, NBD_OPT_GO or NBD_OPT_EXPORT_NAME) and then never
answers a single request: a disk that hangs forever, for the "persist device
stalls" Gate A test.

    stall_nbd.py SOCKET [SIZE_BYTES]

Prints "listening" on stdout once the socket accepts connections. Serves any
number of clients, each in its own thread; exits on SIGTERM.
"""
import os
import socket
import struct
import sys
import threading

NBDMAGIC = b"NBDMAGIC"
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x3E889045565A9
FLAG_FIXED_NEWSTYLE = 1
FLAG_NO_ZEROES = 2
OPT_EXPORT_NAME = 1
OPT_ABORT = 2
OPT_INFO = 6
OPT_GO = 7
REP_ACK = 1
REP_INFO = 3
REP_ERR_UNSUP = (1 << 31) | 1
INFO_EXPORT = 0
TX_HAS_FLAGS = 1
TX_READ_ONLY = 2


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def reply(conn, opt, rtype, data=b""):
    conn.sendall(struct.pack(">QIII", REPLY_MAGIC, opt, rtype, len(data)) + data)


def serve(conn, size):
    try:
        conn.sendall(NBDMAGIC + struct.pack(">QH", IHAVEOPT,
                                            FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES))
        (cflags,) = struct.unpack(">I", recv_exact(conn, 4))
        while True:
            magic, opt, length = struct.unpack(">QII", recv_exact(conn, 16))
            data = recv_exact(conn, length)
            if opt == OPT_EXPORT_NAME:
                conn.sendall(struct.pack(">QH", size, TX_HAS_FLAGS))
                if not cflags & FLAG_NO_ZEROES:
                    conn.sendall(b"\0" * 124)
                break
            if opt in (OPT_GO, OPT_INFO):
                reply(conn, opt, REP_INFO,
                      struct.pack(">HQH", INFO_EXPORT, size,
                                  TX_HAS_FLAGS))
                reply(conn, opt, REP_ACK)
                if opt == OPT_GO:
                    break
                continue
            if opt == OPT_ABORT:
                reply(conn, opt, REP_ACK)
                return
            reply(conn, opt, REP_ERR_UNSUP)
        # Transmission phase: read requests, answer none of them.
        while conn.recv(65536):
            pass
    except (EOFError, OSError):
        pass
    finally:
        conn.close()


def main():
    path = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 64 << 20
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    print("listening", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, size), daemon=True).start()


if __name__ == "__main__":
    main()
