import {
  InProcessBreakerBoard,
  InProcessLimiter,
  InProcessLockProvider,
  MemoryDefinitionSource,
  MemoryInstanceStore,
} from "@capflow/core";
import {
  describeBreakerBoardContract,
  describeDefinitionSourceContract,
  describeInstanceStoreContract,
  describeLimiterContract,
  describeLockProviderContract,
  describeOutboxContract,
  describeRoutingStoreContract,
} from "../src/contracts/index.ts";

describeInstanceStoreContract("MemoryInstanceStore", async () => {
  const store = new MemoryInstanceStore();
  return { store, close: () => store.close() };
});

describeRoutingStoreContract("MemoryInstanceStore", async () => {
  const store = new MemoryInstanceStore();
  return { store, close: () => store.close() };
});

describeOutboxContract("MemoryInstanceStore", async () => {
  const store = new MemoryInstanceStore();
  return { store, close: () => store.close() };
});

describeLockProviderContract("InProcessLockProvider", async () => {
  const locks = new InProcessLockProvider();
  return { locks, close: () => locks.close() };
});

describeLimiterContract("InProcessLimiter", async () => {
  const limiter = new InProcessLimiter();
  return { limiter, close: () => limiter.close() };
});

describeDefinitionSourceContract("MemoryDefinitionSource", async () => {
  const source = new MemoryDefinitionSource();
  return {
    source,
    publish: async ({ channels = [], behaviors = [], products = [], clients = [] }) => {
      for (const channel of channels) source.putChannel(channel);
      for (const behavior of behaviors) source.putBehavior(behavior);
      for (const product of products) source.putProduct(product);
      for (const client of clients) source.putClient(client);
    },
    close: async () => {},
  };
});

describeBreakerBoardContract("InProcessBreakerBoard", async () => ({
  board: new InProcessBreakerBoard(),
  close: async () => {},
}));
