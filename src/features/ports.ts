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
  'registered',
  'dynamic',
] as const;
export type PortClass = (typeof PORT_CLASSES)[number];

const KNOWN: Record<Exclude<PortClass, 'other_well_known' | 'registered' | 'dynamic'>, readonly number[]> = {
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
const REGISTERED = PORT_CLASSES.indexOf('registered');
const DYNAMIC = PORT_CLASSES.indexOf('dynamic');

/** Index into PORT_CLASSES of a service port. */
export function portClass(port: number): number {
  const c = classOfPort[port]!;
  if (c !== NO_CLASS) return c;
  if (port < 1024) return OTHER_WELL_KNOWN;
  if (port < 49_152) return REGISTERED;
  return DYNAMIC;
}

export function isInfraPort(port: number): boolean {
  return infraPort[port] === 1;
}

/**
 * True when `local` is the service end of a connection between `local` and `remote`: a known service port
 * beats an unknown one, otherwise the lower port is the service (clients use ephemeral, high ports).
 */
export function localIsService(local: number, remote: number): boolean {
  const lk = knownService[local]!;
  const rk = knownService[remote]!;
  if (lk !== rk) return lk === 1;
  return local < remote;
}
