export { readmeExamples, runReadmeExamples } from './readme.js';
export type { ReadmeExample } from './readme.js';
export { thrown, rejected } from './errors.js';
export { describeEventStoreConformance, eventStoreConformanceTests } from './event-store-conformance.js';
export type { EventStoreConformanceOptions } from './event-store-conformance.js';
