#!/usr/bin/env python3
"""Connection load test for the HTTP listener (docs/security.md, "Network side").

Starts a real `dispatcher serve` on loopback in a fresh data directory, then:

1. keep-alive: 1,000 concurrent keep-alive connections (spread over eight
   127.0.0.x source addresses, under the per-address cap), each sending
   three InfoRequests; every one must be answered (0 errors).
2. slow-header flood: 1,600 connections from eight other addresses that send
   half a request head and stall, reopened as soon as the host closes them,
   for FLOOD_SECONDS; meanwhile a fresh client from 127.0.0.1 sends an
   InfoRequest every 250 ms on a new connection. Every probe must be answered
   within 1 s.

Bounded: loopback only, ~30 s, exits non-zero when an assertion fails.
Usage: scripts/net-load.py [--bin target/debug/dispatcher] [--connections 1000]
Linux only (source addresses 127.0.0.x all route to lo).
"""

import argparse
import asyncio
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

INFO = b'{"$type":"Dispatcher.Messages.InfoRequest"}'
REQUEST = (
    b"POST /Dispatcher/ HTTP/1.1\r\nHost: load\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(INFO)).encode() + b"\r\n\r\n" + INFO
)
HALF = b"POST /Dispatcher/ HTTP/1.1\r\nHost: flood\r\nContent-Ty"
FLOOD_SECONDS = 8.0
PROBE_LIMIT_S = 1.0


def start_host(binary, data):
    def cli(*args):
        subprocess.run([binary, "--data-dir", data, *args], check=True, capture_output=True)

    cli("user", "create", "--first", "Load", "--last", "Test", "--password", "password", "--no-inventory")
    cli("region", "create", "--name", "Load Region", "--owner", "Load Test")
    proc = subprocess.Popen(
        [binary, "--data-dir", data, "serve", "--http-port", "0", "--udp-port", "0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    line = proc.stdout.readline().decode()
    if not line.startswith("dispatcher ready http="):
        proc.kill()
        sys.exit(f"host did not start: {line!r}")
    http = line.split()[2].split("=", 1)[1]
    host, port = http.rsplit(":", 1)
    return proc, host, int(port)


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length)
    return status, body


async def keep_alive(host, port, connections, rounds=3):
    """Each client connects and sends at once (as real clients do), then holds
    its connection until all are open and sends the remaining rounds on it."""
    sources = [f"127.0.0.{10 + i}" for i in range(8)]
    errors = 0
    latencies = []
    connected = 0
    all_open = asyncio.Event()
    peak = 0

    async def exchange(reader, writer):
        t = time.monotonic()
        writer.write(REQUEST)
        await writer.drain()
        status, body = await asyncio.wait_for(read_response(reader), 30)
        latencies.append(time.monotonic() - t)
        return status == 200 and b"InfoResponse" in body

    async def client(i):
        nonlocal errors, connected, peak
        writer = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, local_addr=(sources[i % len(sources)], 0)), 20)
            if not await exchange(reader, writer):
                errors += 1
            connected += 1
            peak = max(peak, connected)
            if connected == connections:
                all_open.set()
            await asyncio.wait_for(all_open.wait(), 60)
            for _ in range(rounds - 1):
                if not await exchange(reader, writer):
                    errors += 1
        except Exception as e:  # noqa: BLE001 - counted, reported
            errors += 1
            print(f"  client {i} failed: {e!r}", file=sys.stderr)
        finally:
            if writer is not None:
                writer.close()

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(connections)))
    elapsed = time.monotonic() - started
    n = len(latencies)
    latencies.sort()
    print(f"keep-alive: {peak} connections open at once; {n} requests in {elapsed:.2f} s ({n / elapsed:.0f}/s), "
          f"median {statistics.median(latencies) * 1000:.1f} ms, p99 {latencies[max(int(n * 0.99) - 1, 0)] * 1000:.1f} ms, "
          f"errors {errors}")
    return errors == 0 and peak == connections and n == connections * rounds


async def flood_connections(host, port, seconds):
    """The attacker: 1,600 slow-header connections from eight addresses,
    reopened as soon as the host closes them. Runs in its own process so that
    its event loop cannot delay the probe's measurements."""
    sources = [f"127.0.1.{1 + i}" for i in range(8)]
    stop = asyncio.Event()
    counters = {"opened": 0, "closed_by_host": 0}

    async def attacker(source):
        while not stop.is_set():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port, local_addr=(source, 0)), 2)
            except Exception:  # noqa: BLE001 - backlog full or refused: retry
                await asyncio.sleep(0.05)
                continue
            counters["opened"] += 1
            try:
                writer.write(HALF)
                await writer.drain()
                while not stop.is_set():
                    try:
                        data = await asyncio.wait_for(reader.read(1024), 0.5)
                    except asyncio.TimeoutError:
                        continue
                    if not data:
                        counters["closed_by_host"] += 1
                        break
            except Exception:  # noqa: BLE001
                counters["closed_by_host"] += 1
            finally:
                writer.close()

    tasks = [asyncio.create_task(attacker(sources[i % len(sources)])) for i in range(1600)]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait(tasks, timeout=10)
    return counters


def flood_process(host, port, seconds, queue):
    queue.put(asyncio.run(flood_connections(host, port, seconds)))


def probe(host, port):
    """One fresh client: connect from 127.0.0.1, send an InfoRequest, read the
    reply. Returns (seconds, ok)."""
    t = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.bind(("127.0.0.1", 0))
        s.connect((host, port))
        s.sendall(REQUEST.replace(b"Host: load", b"Host: probe\r\nConnection: close", 1))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        ok = data.startswith(b"HTTP/1.1 200") and b"InfoResponse" in data
    except OSError as e:
        print(f"  probe failed: {e!r}", file=sys.stderr)
        ok = False
    finally:
        s.close()
    return time.monotonic() - t, ok


def flood(host, port):
    queue = multiprocessing.Queue()
    attacker = multiprocessing.Process(target=flood_process, args=(host, port, FLOOD_SECONDS + 2.0, queue))
    attacker.start()
    time.sleep(2.0)  # let the flood fill the slots
    probes, failures = [], 0
    end = time.monotonic() + FLOOD_SECONDS
    while time.monotonic() < end:
        took, ok = probe(host, port)
        probes.append(took)
        failures += 0 if ok else 1
        time.sleep(0.2)
    counters = queue.get(timeout=30)
    attacker.join(10)
    worst = max(probes)
    print(f"flood: {counters['opened']} flood connections opened, {counters['closed_by_host']} closed by the host; "
          f"{len(probes)} probes, median {statistics.median(probes) * 1000:.1f} ms, max {worst * 1000:.1f} ms, "
          f"failures {failures}")
    return failures == 0 and worst < PROBE_LIMIT_S


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    default_bin = next((p for p in (os.path.join(root, "target", "release", "dispatcher"),
                                    os.path.join(root, "target", "debug", "dispatcher")) if os.path.exists(p)), None)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=default_bin)
    ap.add_argument("--connections", type=int, default=1000)
    args = ap.parse_args()
    if not args.bin:
        sys.exit("no dispatcher binary; build it or pass --bin")
    data = tempfile.mkdtemp(prefix="net-load-")
    proc, host, port = start_host(args.bin, data)
    try:
        ok_keep_alive = asyncio.run(asyncio.wait_for(keep_alive(host, port, args.connections), 60))
        ok_flood = flood(host, port)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)
    print(f"keep-alive {'ok' if ok_keep_alive else 'FAILED'}; flood {'ok' if ok_flood else 'FAILED'}")
    sys.exit(0 if ok_keep_alive and ok_flood else 1)


if __name__ == "__main__":
    main()
