import { BlockList, isIP } from 'node:net';

/**
 * A matcher for a list of addresses and CIDR ranges (`10.0.0.0/8`, `::1/128`, `192.0.2.7`).
 * IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) match their IPv4 form.
 */
export function addressMatcher(entries: string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (!isIP(address)) throw new Error(`not an IP address or CIDR range: ${entry}`);
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return (raw: string) => {
    const address = raw.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };
}
