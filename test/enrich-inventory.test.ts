import { describe, expect, it } from 'vitest';
import { DeviceInventory, InventoryError, macKey, parseMac } from '../src/enrich/inventory.js';
import { parseAddress } from '../src/util/address.js';

function addr(text: string): Uint8Array {
  const b = new Uint8Array(16);
  if (parseAddress(text, b) === 0) throw new Error(`bad test address ${text}`);
  return b;
}
const af = (text: string): 4 | 6 => (text.includes(':') ? 6 : 4);
const mac = (...b: number[]) => Uint8Array.from(b);

describe('parseMac', () => {
  it('accepts the colon, dash, dotted and bare forms in any case', () => {
    const want = 0xaabbccddeeff;
    for (const t of ['aa:bb:cc:dd:ee:ff', 'AA-BB-CC-DD-EE-FF', 'aabb.ccdd.eeff', 'AABBCCDDEEFF', ' aa:bb:cc:dd:ee:ff ']) {
      expect(parseMac(t), t).toBe(want);
    }
    expect(macKey(mac(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff))).toBe(want);
    expect(macKey(mac(0xff, 0xff, 0xff, 0xff, 0xff, 0xff))).toBe(0xffffffffffff);
  });

  it('rejects what is not a MAC', () => {
    for (const t of ['aa:bb:cc:dd:ee', 'aa:bb-cc:dd:ee:ff', 'aabb.ccdd', 'gg:bb:cc:dd:ee:ff', '192.168.1.1', 'fd00::1', '']) {
      expect(parseMac(t), t).toBeUndefined();
    }
  });
});

describe('DeviceInventory', () => {
  const inv = new DeviceInventory([
    { match: '192.168.1.0/24', name: 'lan', type: 'segment', site: 'home' },
    { match: '192.168.1.48/28', name: 'iot-vlan', type: 'segment' },
    { match: '192.168.1.51', name: 'thermostat-1', type: 'hvac', site: 'lab' },
    { match: 'fd12:3456:789a:1::/64', name: 'lab-v6' },
    { match: 'fd12:3456:789a:1::10', name: 'laptop-v6' },
    { match: '02-00-00-00-00-60', name: 'camera-1', type: 'camera', site: 'lab' },
    { match: '0200.0000.0023', name: 'phone-1' },
  ]);

  it('matches exact addresses, then the longest CIDR', () => {
    const name = (t: string) => inv.lookupAddress(af(t), addr(t))?.name;
    expect(name('192.168.1.51')).toBe('thermostat-1');
    expect(name('192.168.1.52')).toBe('iot-vlan');
    expect(name('192.168.1.10')).toBe('lan');
    expect(name('192.168.2.10')).toBeUndefined();
    expect(name('fd12:3456:789a:1::10')).toBe('laptop-v6');
    expect(name('fd12:3456:789a:1::51')).toBe('lab-v6');
    expect(name('::ffff:192.168.1.51')).toBe('thermostat-1');
    expect(inv.lookupAddress(4, addr('192.168.1.51'))).toMatchObject({ type: 'hvac', site: 'lab', kind: 'address' });
    expect(inv.lookupAddress(4, addr('192.168.1.52'))).toMatchObject({ type: 'segment', site: '', kind: 'network' });
  });

  it('matches MACs in every configured form; an exact address beats a MAC, a MAC beats a CIDR', () => {
    const cameraMac = mac(0x02, 0, 0, 0, 0, 0x60);
    expect(inv.lookupMac(cameraMac)?.name).toBe('camera-1');
    expect(inv.lookupMac(mac(0x02, 0, 0, 0, 0, 0x23))?.name).toBe('phone-1');
    expect(inv.lookupMac(mac(0, 0, 0, 0, 0, 0))).toBeUndefined();
    // Camera got a new DHCP lease inside the LAN CIDR: the MAC names it.
    expect(inv.lookup(4, addr('192.168.1.77'), cameraMac)?.name).toBe('camera-1');
    // Exact address entry wins over the MAC.
    expect(inv.lookup(4, addr('192.168.1.51'), cameraMac)?.name).toBe('thermostat-1');
    // Without a MAC the CIDR answers.
    expect(inv.lookup(4, addr('192.168.1.77'))?.name).toBe('lan');
    expect(inv.lookup(4, addr('10.9.9.9'), cameraMac)?.name).toBe('camera-1');
    expect(inv.size).toBe(7);
  });

  it('rejects bad entries with an error naming the entry', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ match: 'not-a-thing', name: 'x' }, /inventory\[0\] \(match "not-a-thing"\): not an IP address, CIDR or MAC/],
      [{ match: '10.0.0.0/40', name: 'x' }, /inventory\[0\].*prefix length 40/],
      [{ match: '10.0.0.1', name: '  ' }, /inventory\[0\].*name is empty/],
      [{ match: '00:00:00:00:00:00', name: 'x' }, /all-zero MAC/],
    ];
    for (const [entry, msg] of bad) {
      expect(() => new DeviceInventory([entry as never])).toThrow(InventoryError);
      expect(() => new DeviceInventory([entry as never])).toThrow(msg);
    }
    expect(
      () =>
        new DeviceInventory([
          { match: '10.0.0.0/8', name: 'a' },
          { match: '10.1.2.3/8', name: 'b' },
        ]),
    ).toThrow(/inventory\[1\].*earlier entry "10.0.0.0\/8"/);
    expect(
      () =>
        new DeviceInventory([
          { match: 'aa:bb:cc:dd:ee:ff', name: 'a' },
          { match: 'aabb.ccdd.eeff', name: 'b' },
        ]),
    ).toThrow(/inventory\[1\].*same MAC/);
  });
});
