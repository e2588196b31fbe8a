/** A single-node KRaft broker's server.properties, sized for a 2-core machine. */
import { randomBytes } from 'node:crypto';
import { type ListenerOptions, securedListeners } from './listeners.ts';

export interface ServerPropertiesOptions extends ListenerOptions {
  nodeId?: number;
  /** KRaft metadata + partition data (`log.dirs`). */
  logDirs: string;
  /** Overrides / additions, e.g. `{ 'num.partitions': 3 }`. */
  extraProperties?: Record<string, string | number | boolean>;
}

/** The single place where a broker's server.properties is generated. */
export function buildServerProperties(opts: ServerPropertiesOptions): string {
  const host = opts.host ?? '127.0.0.1';
  const nodeId = opts.nodeId ?? 1;
  // Listener names are their protocols' names.
  const secured = securedListeners(opts, host);
  const clientListeners = [`PLAINTEXT://${host}:${opts.port}`, ...secured.listeners];
  const props: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': nodeId,
    'controller.quorum.voters': `${nodeId}@${host}:${opts.controllerPort}`,
    listeners: [...clientListeners, `CONTROLLER://${host}:${opts.controllerPort}`].join(','),
    'advertised.listeners': clientListeners.join(','),
    'inter.broker.listener.name': 'PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'listener.security.protocol.map': ['CONTROLLER:PLAINTEXT', 'PLAINTEXT:PLAINTEXT', ...secured.protocols].join(','),
    ...secured.props,
    'log.dirs': opts.logDirs,
    // One node: every internal topic must have replication factor 1 or groups hang.
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'num.partitions': 1,
    'group.initial.rebalance.delay.ms': 0,
    'auto.create.topics.enable': true,
    'delete.topic.enable': true,
    // Small footprint on a 2-core machine.
    'num.network.threads': 2,
    'num.io.threads': 4,
    'num.recovery.threads.per.data.dir': 1,
    'log.cleaner.threads': 1,
    'log.cleaner.dedupe.buffer.size': 8 * 1024 * 1024,
    'log.segment.bytes': 64 * 1024 * 1024,
    'log.retention.hours': 24,
    'log.retention.check.interval.ms': 300_000,
    'socket.request.max.bytes': 104_857_600,
    ...opts.extraProperties,
  };
  return `${Object.entries(props)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join('\n')}\n`;
}

/** A Kafka Uuid (16 random bytes, URL-safe base64 without padding), like `StorageTool random-uuid`. */
export function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}
