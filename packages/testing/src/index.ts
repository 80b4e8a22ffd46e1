export { readmeExamples, runReadmeExamples } from './readme.js';
export type { ReadmeExample } from './readme.js';
export { expectNoSecret, thrown, rejected } from './errors.js';
export { waitUntil, randomSuffix } from './wait.js';
export { describeBusConformance } from './bus-conformance.js';
export type { BusConformanceOptions } from './bus-conformance.js';
export { describeEventStoreConformance, eventStoreConformanceTests } from './event-store-conformance.js';
export { describeOutcomeQueryConformance, outcomeQueryConformanceTests } from './outcome-query-conformance.js';
export type { OutcomeQueryConformanceOptions, OutcomeQueryStore } from './outcome-query-conformance.js';
export type { EventStoreConformanceOptions, HeldTransaction } from './event-store-conformance.js';
export { describeAgentRegistryConformance } from './agent-registry-conformance.js';
export type { AgentRegistryConformanceOptions, AgentRegistryCreateOptions, AgentRegistryFixture } from './agent-registry-conformance.js';
export { describePeerConformance } from './peer-conformance.js';
export type { PeerConformanceOptions } from './peer-conformance.js';
export { describeTaskCoordinatorConformance, taskCoordinatorConformanceTests } from './task-coordinator-conformance.js';
export type { TaskCoordinatorConformanceContext, TaskCoordinatorConformanceOptions } from './task-coordinator-conformance.js';
export { startFakeModelServer } from './fake-model-server.js';
export type {
  FakeChatBody,
  FakeCompletion,
  FakeDisconnect,
  FakeError,
  FakeHang,
  FakeModelRequest,
  FakeModelServer,
  FakeModelServerOptions,
  FakeRaw,
  FakeResponse,
  FakeScript,
  FakeToolCall,
  FakeUsage,
} from './fake-model-server.js';
