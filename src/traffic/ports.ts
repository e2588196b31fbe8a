/**
 * Service-port knowledge: which end of a connection is the service, and what family of service it is.
 * Classes follow IANA registrations and common defaults, so that behaviour is described in terms an
 * operator recognises and that do not depend on any one trace generator.
 */

export const PORT_CLASSES = [
  'web',
  'database',
  'cache',
  'messaging',
  'storage',
  'remote_admin',
  'media',
  'compute',
  'other_well_known',
  'unassigned',
] as const;
export type PortClass = (typeof PORT_CLASSES)[number];

const KNOWN: Record<Exclude<PortClass, 'other_well_known' | 'unassigned'>, readonly number[]> = {
  web: [80, 443, 8000, 8008, 8080, 8081, 8443, 8888, 9443],
  database: [1433, 1521, 3306, 5432, 5984, 7000, 7001, 8086, 9042, 9200, 9300, 26257, 27017, 27018, 28015],
  cache: [2379, 2380, 6379, 11211, 26379],
  messaging: [1883, 2181, 4222, 5671, 5672, 6650, 8883, 9092, 9093, 61613, 61616],
  storage: [21, 111, 445, 873, 2049, 3260, 6789, 9000, 9001],
  remote_admin: [22, 23, 3389, 5900, 5985, 5986],
  media: [554, 1935, 3478, 5004, 5005, 5349, 8554],
  compute: [4040, 6066, 7077, 8786, 8787, 29500],
};

/** Ports that are background infrastructure every VM talks to (name resolution, time, DHCP). */
const INFRA_PORTS = [53, 67, 68, 123, 5353];
export const METADATA_IPS: ReadonlySet<string> = new Set(['169.254.169.254', 'fd00:ec2::254']);

const NO_CLASS = 255;
const classOfPort = new Uint8Array(65_536).fill(NO_CLASS);
const knownService = new Uint8Array(65_536);
const infraPort = new Uint8Array(65_536);
for (const [name, ports] of Object.entries(KNOWN)) {
  const id = PORT_CLASSES.indexOf(name as PortClass);
  for (const p of ports) {
    classOfPort[p] = id;
    knownService[p] = 1;
  }
}
for (const p of INFRA_PORTS) {
  infraPort[p] = 1;
  knownService[p] = 1;
}

const OTHER_WELL_KNOWN = PORT_CLASSES.indexOf('other_well_known');
const UNASSIGNED = PORT_CLASSES.indexOf('unassigned');

/**
 * Index into PORT_CLASSES of a service port. Unknown ports from 1024 up form one class: the registered and
 * dynamic ranges overlap the ephemeral ranges clients use, so a boundary between them would be noise.
 */
export function portClass(port: number): number {
  const c = classOfPort[port]!;
  if (c !== NO_CLASS) return c;
  return port < 1024 ? OTHER_WELL_KNOWN : UNASSIGNED;
}

export function isInfraPort(port: number): boolean {
  return infraPort[port] === 1;
}

/** Lower bound of the ephemeral range clients use on Linux (32768-60999); Windows and IANA use 49152 up. */
const EPHEMERAL_MIN = 32_768;

export const LOCAL_SERVICE = 1;
export const REMOTE_SERVICE = -1;
export const NO_SERVICE = 0;

/**
 * Which end of a connection between ports `local` and `remote` is the service: LOCAL_SERVICE,
 * REMOTE_SERVICE, or NO_SERVICE when one record cannot tell (equal ports, or two unknown ports on the
 * same side of the ephemeral boundary, as in cluster interconnects). A known service port beats an unknown
 * one; a well-known port (< 1024) beats a higher one; a port below the ephemeral range beats one inside it.
 */
export function serviceEnd(local: number, remote: number): number {
  if (local === remote) return NO_SERVICE;
  const lk = knownService[local]!;
  const rk = knownService[remote]!;
  if (lk !== rk) return lk === 1 ? LOCAL_SERVICE : REMOTE_SERVICE;
  const lower = local < remote ? LOCAL_SERVICE : REMOTE_SERVICE;
  if (lk === 1) return lower;
  const lo = Math.min(local, remote);
  const hi = Math.max(local, remote);
  if (lo < 1024 || (lo < EPHEMERAL_MIN && hi >= EPHEMERAL_MIN)) return lower;
  return NO_SERVICE;
}
