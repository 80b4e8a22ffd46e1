import { getHeapStatistics } from 'node:v8';
import { createObservabilityMetrics, isObservabilityError } from '@buckley/observability';
import { thrown } from '@buckley/testing';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RUNTIME_SAMPLER_METRICS, createRuntimeSampler } from './index.js';

const busyFor = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};
const idleFor = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function value(registry: Registry, name: string): Promise<number> {
  return (await registry.getSingleMetric(name)!.get()).values[0]!.value;
}

describe('createRuntimeSampler', () => {
  it('adds only metrics collectDefaultMetrics does not have, next to them on the same registry', async () => {
    const registry = new Registry();
    const metrics = createObservabilityMetrics({ registry });
    const defaults = (await registry.getMetricsAsJSON()).map((m) => m.name);
    expect(defaults).toContain('nodejs_eventloop_lag_p99_seconds');
    using sampler = createRuntimeSampler({ metrics });
    expect(sampler.sample().heapLimitBytes).toBe(getHeapStatistics().heap_size_limit);
    for (const name of Object.values(RUNTIME_SAMPLER_METRICS)) expect(defaults).not.toContain(name);
    const text = await registry.metrics();
    for (const name of Object.values(RUNTIME_SAMPLER_METRICS)) expect(text).toMatch(new RegExp(`^${name} \\d`, 'm'));
  });

  it('busy seconds grow by the time the loop was blocked; the heap limit is V8s', async () => {
    const registry = new Registry();
    using sampler = createRuntimeSampler({ metrics: createObservabilityMetrics({ registry, defaultMetrics: false }) });
    sampler.sample();
    const before = await value(registry, RUNTIME_SAMPLER_METRICS.eventLoopBusy);
    await idleFor(1);
    busyFor(120);
    await idleFor(1);
    const grown = (await value(registry, RUNTIME_SAMPLER_METRICS.eventLoopBusy)) - before;
    expect(grown).toBeGreaterThanOrEqual(0.11);
    expect(grown).toBeLessThan(5);
    expect(await value(registry, RUNTIME_SAMPLER_METRICS.heapLimit)).toBe(getHeapStatistics().heap_size_limit);
    const buffer = Buffer.alloc(64 * 1024 * 1024, 1);
    expect(await value(registry, RUNTIME_SAMPLER_METRICS.arrayBuffers)).toBeGreaterThanOrEqual(buffer.byteLength);
  });

  it('sample(): utilization since the previous sample, near 1 when blocked and near 0 when idle', async () => {
    using sampler = createRuntimeSampler({ metrics: createObservabilityMetrics({ registry: new Registry(), defaultMetrics: false }) });
    sampler.sample();
    busyFor(150);
    const busy = sampler.sample();
    await idleFor(150);
    const idle = sampler.sample();
    expect(busy.eventLoopUtilization).toBeGreaterThan(0.8);
    expect(idle.eventLoopUtilization).toBeLessThan(0.5);
    expect(busy.heapUsedBytes).toBeGreaterThan(0);
    expect(busy.heapLimitBytes).toBeGreaterThan(busy.heapUsedBytes);
    expect(busy.rssBytes).toBeGreaterThan(busy.heapUsedBytes);
  });

  it('close() removes its metrics; a second sampler on a registry is refused while the first is open', () => {
    const registry = new Registry();
    const metrics = createObservabilityMetrics({ registry, defaultMetrics: false });
    const sampler = createRuntimeSampler({ metrics });
    expect(
      isObservabilityError(
        thrown(() => createRuntimeSampler({ metrics })),
        'INVALID_OBSERVABILITY_OPTION',
      ),
    ).toBe(true);
    sampler.close();
    sampler.close();
    for (const name of Object.values(RUNTIME_SAMPLER_METRICS)) expect(registry.getSingleMetric(name)).toBeUndefined();
    createRuntimeSampler({ metrics }).close();
  });
});
