// W4 on every core: the peers' Node echo server (net module) in a
// `cluster` of one worker process per core; the primary hands connections
// to the workers round-robin (Node's default on Linux).
// Usage: node node_cluster.js PORT LIFETIME_S. Prints "READY <pid>" (the primary's).
'use strict';
const cluster = require('node:cluster');
const net = require('node:net');
const os = require('node:os');
const port = parseInt(process.argv[2] || '9101', 10);
const lifetime = parseInt(process.argv[3] || '60', 10);
const workers = parseInt(process.env.W4_WORKERS || String(os.availableParallelism ? os.availableParallelism() : os.cpus().length), 10);

if (cluster.isPrimary) {
  let listening = 0;
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('listening', () => {
    if (++listening === workers) console.log(`READY ${process.pid}`);
  });
  const stop = () => { for (const id in cluster.workers) cluster.workers[id].kill(); process.exit(0); };
  process.on('SIGTERM', stop);
  setTimeout(stop, lifetime * 1000).unref();
} else {
  const server = net.createServer({ noDelay: true }, (sock) => {
    sock.on('data', (d) => sock.write(d));
    sock.on('error', () => {});
  });
  server.listen({ host: '127.0.0.1', port, backlog: 1024 });
}
