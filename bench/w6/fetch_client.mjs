// W6 peer: Node's built-in fetch (undici). 1,000 GETs at concurrency 100.
//   node fetch_client.mjs URL [REQUESTS] [CONCURRENCY]
const [url, nArg, cArg] = process.argv.slice(2);
const n = Number(nArg || 1000), c = Number(cArg || 100);
let left = n, done = 0;
async function worker() {
    while (left > 0) {
        left--;
        const resp = await fetch(url);
        await resp.arrayBuffer();
        if (resp.status === 200) done++;
    }
}
const t0 = performance.now();
await Promise.all(Array.from({ length: c }, worker));
const elapsed = (performance.now() - t0) / 1000;
if (done !== n) {
    console.error(`node: ${done}/${n} ok`);
    process.exit(1);
}
console.log(`INFO ${n} requests, concurrency ${c}, ${elapsed.toFixed(3)} s`);
console.log(`METRIC ${(n / elapsed).toFixed(0)} req/s`);
