/**
 * One UDP socket receiving export datagrams. The listener only moves bytes: it checks the exporter
 * allowlist and hands each datagram to the pipeline; decoding happens there.
 */
import dgram from 'node:dgram';
import { BlockList, isIP } from 'node:net';

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses "host:port", "[v6]:port" or ":port" (all addresses). */
export function parseListenAddress(text: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new Error(`listen address "${text}" is not host:port (like "0.0.0.0:2055" or "[::]:2055")`);
  const host = m[1] ?? (m[2] || '0.0.0.0');
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`listen address "${text}": port ${port} is above 65535`);
  if (m[1] !== undefined && isIP(host) !== 6) throw new Error(`listen address "${text}": "${host}" is not an IPv6 address`);
  return { host, port };
}

/** Exporter allowlist by CIDR; empty means every exporter is accepted. */
export class ExporterAllowlist {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(cidrs: string[]) {
    this.empty = cidrs.length === 0;
    for (const cidr of cidrs) {
      const [addr, lenText] = cidr.split('/');
      const family = isIP(addr);
      if (family === 0) throw new Error(`exporter_allowlist: "${cidr}" is not an IP address or CIDR`);
      const type = family === 6 ? 'ipv6' : 'ipv4';
      const len = lenText === undefined ? (family === 6 ? 128 : 32) : Number(lenText);
      this.list.addSubnet(addr, len, type);
    }
  }

  allows(address: string): boolean {
    if (this.empty) return true;
    const family = isIP(address);
    if (family === 0) return false;
    if (this.list.check(address, family === 6 ? 'ipv6' : 'ipv4')) return true;
    // A dual-stack socket reports IPv4 exporters as ::ffff:a.b.c.d.
    if (family === 6 && address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) {
      return this.list.check(address.slice(7), 'ipv4');
    }
    return false;
  }
}

export type DatagramHandler = (msg: Buffer, exporterAddress: string, nowMs: number) => void;

export interface UdpListenerOptions {
  address: ListenAddress;
  receiveBufferBytes: number;
  allowlist: ExporterAllowlist;
  onDatagram: DatagramHandler;
  onRejected: (exporterAddress: string) => void;
  /** SO_REUSEPORT: several sockets (ingest workers) share the port; the kernel spreads exporters over them. */
  reusePort?: boolean;
}

export class UdpListener {
  readonly address: ListenAddress;
  private socket: dgram.Socket | undefined;
  private readonly options: UdpListenerOptions;
  datagrams = 0;
  rejected = 0;
  /** What the kernel granted for SO_RCVBUF (Linux reports double the requested size). */
  receiveBufferBytes = 0;
  /** Local port actually bound (useful when port 0 was asked for). */
  boundPort = 0;

  constructor(options: UdpListenerOptions) {
    this.options = options;
    this.address = options.address;
  }

  get label(): string {
    return isIP(this.address.host) === 6 ? `[${this.address.host}]:${this.boundPort}` : `${this.address.host}:${this.boundPort}`;
  }

  start(): Promise<void> {
    const { host, port } = this.address;
    const type = isIP(host) === 6 ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({ type, reuseAddr: false, reusePort: this.options.reusePort === true });
    this.socket = socket;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        socket.close();
        reject(new Error(`cannot listen on udp ${host}:${port}: ${err.message}`));
      };
      socket.once('error', onError);
      socket.bind(port, host, () => {
        socket.off('error', onError);
        socket.on('error', () => {
          // Errors after bind (e.g. ICMP unreachable reports) must not stop the listener.
        });
        try {
          socket.setRecvBufferSize(this.options.receiveBufferBytes);
        } catch {
          // The kernel cap (net.core.rmem_max) applies; what we got is reported below.
        }
        this.receiveBufferBytes = socket.getRecvBufferSize();
        this.boundPort = socket.address().port;
        socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo.address));
        resolve();
      });
    });
  }

  private onMessage(msg: Buffer, address: string): void {
    this.datagrams++;
    const from = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    if (!this.options.allowlist.allows(from)) {
      this.rejected++;
      this.options.onRejected(from);
      return;
    }
    this.options.onDatagram(msg, from, Date.now());
  }

  stop(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return Promise.resolve();
    return new Promise((resolve) => socket.close(() => resolve()));
  }
}
