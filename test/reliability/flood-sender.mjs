// Flood sender, run as a child process so that sending does not share an event loop (or a core) with
// the process that scrapes the daemon. Sends NetFlow v9 datagrams to one UDP port, each a copy of a
// base datagram with its own sequence number (header offset 12), at a given rate or as fast as the
// socket takes them, for a time or a count, and reports how many it sent.
import dgram from 'node:dgram';

/** Sends still queued in the socket before the sender waits (keeps memory flat at any rate). */
const MAX_IN_FLIGHT = 512;

process.on('message', (job) => {
  const base = Buffer.from(job.datagram, 'base64');
  const sock = dgram.createSocket('udp4');
  // A connected socket hears ICMP port unreachable once the daemon is gone: not a sender failure.
  sock.on('error', () => undefined);
  sock.connect(job.port, '127.0.0.1', () => {
    let seq = job.firstSequence >>> 0;
    let sent = 0;
    let errors = 0;
    let inFlight = 0;
    const started = performance.now();
    const endAt = started + job.durationMs;
    const onSent = (err) => {
      inFlight--;
      if (err) errors++;
    };
    const sendOne = () => {
      const b = Buffer.allocUnsafe(base.length);
      base.copy(b);
      b.writeUInt32BE(seq, 12);
      seq = (seq + 1) >>> 0;
      inFlight++;
      sent++;
      sock.send(b, onSent);
    };
    const tick = () => {
      const now = performance.now();
      if (now >= endAt || sent >= job.count) {
        const finish = () => {
          if (inFlight > 0) return void setImmediate(finish);
          sock.close();
          process.send({ sent, errors, elapsedMs: performance.now() - started, nextSequence: seq });
        };
        return finish();
      }
      // Due by now at the target rate (Infinity: as many as the socket queue allows).
      const due = Number.isFinite(job.rate) ? Math.floor(((now - started) / 1000) * job.rate) - sent : Infinity;
      let n = 0;
      while (n < due && inFlight < MAX_IN_FLIGHT && n < 2000 && sent < job.count) {
        sendOne();
        n++;
      }
      setImmediate(tick);
    };
    tick();
  });
});
