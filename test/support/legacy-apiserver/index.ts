// The Initializer-era API server double: see server.ts, and test/legacy-apiserver for the checks
// that keep it faithful to the recorded servers.
export { LegacyApiServer, type LegacyApiServerOptions, type RecordedRequest, type Delivery } from './server.ts';
export { FaultInjector, FAULT_TYPES, type FaultPlan, type FaultType, type RequestClass } from './faults.ts';
export type { InitializerRule, WriteTrace } from './registry.ts';
export type { Obj, Meta, Flavor } from './semantics.ts';
export { pendingNames, isUninitialized } from './semantics.ts';
export type { Change } from './store.ts';
export { TestClient, type Reply } from './client.ts';
export { Random, keyedRandom, mulberry32 } from './prng.ts';
