/**
 * The floor of a Node.js collector: a dgram socket that only counts datagrams (no decoding), to
 * show how much of the gap to the C receiver is Node's receive path and how much is flowgauge's
 * work per record. Same socket buffer request as the daemon. Usage: PORT; prints "ready", then on
 * SIGTERM one line of JSON {"datagrams":N}.
 * Plain JavaScript, so it runs on node alone, as the daemon does.
 */
import dgram from 'node:dgram';

const port = Number(process.argv[2]);
const socket = dgram.createSocket({ type: 'udp4' });
let datagrams = 0;
socket.on('message', () => {
  datagrams++;
});
socket.bind(port, '127.0.0.1', () => {
  try {
    socket.setRecvBufferSize(32 * 1024 * 1024);
  } catch {
    // Capped by net.core.rmem_max, as for the daemon.
  }
  process.stdout.write(`ready ${socket.getRecvBufferSize()}\n`);
});
process.once('SIGTERM', () => {
  process.stdout.write(JSON.stringify({ datagrams }) + '\n');
  socket.close(() => process.exit(0));
});
