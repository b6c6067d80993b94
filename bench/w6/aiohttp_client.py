# W6 peer: aiohttp (Debian's python3-aiohttp). 1,000 GETs at concurrency 100,
# one ClientSession, workers taking requests from a shared counter.
#   /usr/bin/python3 aiohttp_client.py URL [REQUESTS] [CONCURRENCY]
import asyncio
import sys
import time

import aiohttp


async def main(url, n, c):
    left = n
    done = 0

    async def worker(session):
        nonlocal left, done
        while left > 0:
            left -= 1
            async with session.get(url) as resp:
                await resp.read()
                if resp.status == 200:
                    done += 1

    conn = aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(connector=conn) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(c)))
        elapsed = time.perf_counter() - t0
    if done != n:
        sys.exit(f"aiohttp: {done}/{n} ok")
    print(f"INFO {n} requests, concurrency {c}, {elapsed:.3f} s")
    print(f"METRIC {n / elapsed:.0f} req/s")


if __name__ == "__main__":
    a = sys.argv
    asyncio.run(main(a[1], int(a[2]) if len(a) > 2 else 1000, int(a[3]) if len(a) > 3 else 100))
