import { describe, expect, it } from 'vitest';
import { toPipelineConfig } from '../../src/config/pipeline-options.ts';
import { ConfigError, loadServiceConfig } from '../../src/config/service-config.ts';

describe('KAFKA_FLOW_FORMAT', () => {
  it("chooses the flows topic's JSON: ours by default, a collector's when named", () => {
    expect(toPipelineConfig(loadServiceConfig({}).pipeline).flowFormat).toBe('alcor');
    expect(toPipelineConfig(loadServiceConfig({ KAFKA_FLOW_FORMAT: 'pmacct' }).pipeline).flowFormat).toBe('pmacct');
  });

  it('stops the start-up on a format it does not know, naming the variable', () => {
    expect(() => loadServiceConfig({ KAFKA_FLOW_FORMAT: 'netflow' })).toThrow(ConfigError);
    expect(() => loadServiceConfig({ KAFKA_FLOW_FORMAT: 'netflow' })).toThrow(/KAFKA_FLOW_FORMAT/);
  });
});
