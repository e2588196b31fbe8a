/**
 * Readers of the global tables every member reads whole (tenants, address claims): the member's main thread
 * keeps one of each for what it serves, and the route worker one of each for the routers it runs.
 */
import type { Kafka } from 'kafkajs';
import type { TenantAttributes } from '../contract/records.ts';
import type { FleetState } from '../fleet/fleet-state.ts';
import type { KafkaLogger } from '../kafka/options.ts';
import { type AddressTable, decodeAddressRecord } from './address-table.ts';
import type { TopologyConfig } from './config.ts';
import { TopicReader } from './topic-reader.ts';

type ReaderTopology = Pick<TopologyConfig, 'appId' | 'readerWaitMs'>;

/** `<app>-tenants` into `table` (a FleetState: its tenant cap refuses alike on every member). */
export function tenantTableReader(kafka: Kafka, topic: string, topology: ReaderTopology, table: FleetState, log: KafkaLogger): TopicReader {
  return new TopicReader(kafka, topic, `${topology.appId}-tenants-reader`, (m) => {
    if (m.value === null) return;
    try {
      table.applyTenantAttributes(JSON.parse(m.value.toString()) as TenantAttributes);
    } catch {
      log.error({ offset: m.offset }, `skipping an unreadable record of ${topic}`);
    }
  }, { maxWaitMs: topology.readerWaitMs });
}

/** `<app>-addresses` into `table`. */
export function addressTableReader(kafka: Kafka, topic: string, topology: ReaderTopology, table: AddressTable, log: KafkaLogger): TopicReader {
  return new TopicReader(kafka, topic, `${topology.appId}-addresses-reader`, (m) => {
    // A tombstone: a deleted VM past the horizon leaves the table (router.ts writes it).
    if (m.value === null) {
      if (m.key !== null) table.forget(m.key);
      return;
    }
    const record = decodeAddressRecord(m.value.toString());
    if (record === null) log.error({ offset: m.offset }, `skipping an unreadable record of ${topic}`);
    else table.apply(record);
  }, { maxWaitMs: topology.readerWaitMs });
}
