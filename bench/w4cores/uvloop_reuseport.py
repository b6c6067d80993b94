# W4 on every core: the peers' asyncio echo server on uvloop, one process
# per core, each with its own listening socket (reuse_port=True: the
# kernel spreads the connections), as uvicorn/gunicorn workers do.
# Usage: python3 uvloop_reuseport.py PORT LIFETIME_S. Prints "READY <pid>" (the parent's).
import asyncio, os, signal, sys

import uvloop


async def handle(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        writer.close()


async def serve(port, lifetime, ready_fd):
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024, reuse_port=True)
    os.write(ready_fd, b"r")
    async with server:
        await asyncio.sleep(lifetime)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9101
    lifetime = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    workers = int(os.environ.get("W4_WORKERS", len(os.sched_getaffinity(0))))
    r, w = os.pipe()
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            os.close(r)
            uvloop.install()
            asyncio.run(serve(port, lifetime, w))
            os._exit(0)
        children.append(pid)
    os.close(w)
    for _ in range(workers):
        os.read(r, 1)
    print(f"READY {os.getpid()}", flush=True)

    def stop(*_):
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGALRM, stop)
    signal.alarm(lifetime)
    for pid in children:
        os.waitpid(pid, 0)


main()
