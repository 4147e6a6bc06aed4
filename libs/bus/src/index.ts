export { DEFAULT_ACK_WAIT_MS, DEFAULT_MAX_DELIVER, Outcomes, retryDelayMs } from './bus';
export type { AnyMessage, Bus, BusHealth, BusLogger, ConsumerHandle, ConsumerOptions, Delivery, Outcome, PublishOptions } from './bus';
export { InvalidMessageError, subjectMatches } from './codec';
export { InProcessBus } from './in-process.bus';
export { JetStreamBus } from './jetstream.bus';
export type { JetStreamBusOptions } from './jetstream.bus';
export { Slots } from './slots';
