/**
 * The demo kit behind `pnpm start` and each example's own `pnpm start`: a seeded scenario of
 * business records and funder faults, the bookkeeping a mock funder needs to play its part, the
 * demo clock, and `runDemo`, which runs the engine against the funders it is given and checks the
 * outcome against the scenario and the money rules. Each example folder brings its own funder
 * (`examples/<name>/mock-funder.ts`); the kit knows none of them.
 */
export { customerFor, type DemoCustomer } from "./customers.ts";
export { ClockView, DemoClock, DemoTransport } from "./demo-clock.ts";
export {
  exchangeWithMirroredFunder,
  loadExampleDefinitions,
  type MirroredExchange,
} from "./example-checks.ts";
export {
  type FaultKind,
  FunderBook,
  type FunderContext,
  type FunderProfile,
  faultKinds,
  faultRulesFor,
  notificationDelayMs,
  notificationsFor,
  type OrderState,
  sniffingCodec,
} from "./mock-funders.ts";
export { type RoutedStart, type RoutingDemo, runRoutingEpilogue } from "./routing-epilogue.ts";
export {
  type DemoOptions,
  type DemoResult,
  demoOptionsFromEnv,
  runDemo,
} from "./run-demo.ts";
export {
  type BehaviorTraits,
  buildScenario,
  type CallRole,
  type CaseFault,
  type CaseInput,
  type CaseKind,
  caseKinds,
  type FunderPlan,
  type ScenarioCase,
} from "./scenario.ts";
export { checkRun, type DemoRun, formatSummary, type StepLogRow } from "./summary.ts";
