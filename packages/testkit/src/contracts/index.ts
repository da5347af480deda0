export { describeBreakerBoardContract } from "./breaker-board-contract.ts";
export {
  describeDefinitionSourceContract,
  type PublishDefinitions,
} from "./definition-source-contract.ts";
export { describeInstanceStoreContract } from "./instance-store-contract.ts";
export { describeLimiterContract } from "./limiter-contract.ts";
export { describeLockProviderContract } from "./lock-provider-contract.ts";
export { describeOutboxContract } from "./outbox-contract.ts";
export { describeRoutingStoreContract } from "./routing-store-contract.ts";
export { describeStartQueueStoreContract } from "./start-queue-store-contract.ts";
