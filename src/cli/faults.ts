import { Option, type Command } from "commander";
import type { FaultRule } from "../faults/faults.ts";
import { dataDirOption } from "./common.ts";
import { messageOf, runningServer } from "./server-api.ts";

interface AddOptions {
  dataDir?: string;
  port?: string;
  vault?: string;
  operation?: string;
  method?: string;
  name?: string;
  status: string;
  count?: string;
  fraction?: string;
  seed?: string;
  delayMs?: string;
  retryAfter?: string;
  expiresIn?: string;
  json?: boolean;
}

/** A number flag as given (the server checks its range and says what is wrong); text that is no number is refused here. */
const numberOf = (flag: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new Error(`${flag} must be a number (got '${v}')`);
  return n;
};

/** One line per rule: what it matches, what it answers, how often it fired and what is left. */
export function describeRule(r: FaultRule): string {
  const matches = [
    r.vault && `vault=${r.vault}`,
    r.operation && `operation=${r.operation}`,
    r.method && `method=${r.method}`,
    r.name && `name=${r.name}`,
  ].filter(Boolean);
  const how = [
    r.count !== undefined && `next ${r.count}`,
    r.fraction !== undefined && `fraction ${r.fraction} (seed ${r.seed})`,
    r.delayMs && `after ${r.delayMs} ms`,
    r.retryAfter !== undefined && `Retry-After ${r.retryAfter}`,
    r.expiresOn !== undefined && `until ${new Date(r.expiresOn * 1000).toISOString()}`,
  ].filter(Boolean);
  const left = r.remaining !== undefined ? `, ${r.remaining} left` : "";
  return `${r.id}  ${r.state}  ${r.status}  ${matches.join(" ") || "every request"}  ${how.join(", ")}  fired ${r.fired}${left}`.replace(
    / {3,}/g,
    "  ",
  );
}

/** `lockbox faults add|list|clear`: the running server's fault-injection rules, over its admin API. */
export function faultCommands(program: Command): void {
  const faults = program
    .command("faults")
    .description("inject faults into the running server's answers, to test a client's resilience (rules live in the server's memory)");
  const server = (opts: { dataDir?: string; port?: string }) => runningServer(opts.dataDir, opts.port);
  const portOption = () => new Option("--port <port>", "the server's port, when several run");

  faults
    .command("add")
    .description("add a rule: matching requests get STATUS (or a dropped connection) instead of their answer")
    .addOption(dataDirOption())
    .addOption(portOption())
    .addOption(new Option("--status <status>", "the answer").choices(["429", "500", "502", "503", "408", "drop"]).makeOptionMandatory())
    .option("--vault <name>", "only requests to this vault")
    .option("--operation <name>", "only this operation (e.g. SecretGet, SecretSet, KeySign)")
    .option("--method <method>", "only this HTTP method")
    .option("--name <name>", "only requests for this object name")
    .option("--count <n>", "only the next N matching requests")
    .option("--fraction <f>", "only this share of the matching requests (0 < F <= 1)")
    .option("--seed <s>", "the seed choosing a fraction's requests (the same seed, the same requests)")
    .option("--delay-ms <ms>", "wait this long before answering (or dropping)")
    .option("--retry-after <seconds>", "the answer's Retry-After header")
    .option("--expires-in <seconds>", "the rule ends after this many seconds")
    .option("--json", "print the rule as JSON")
    .action(async (opts: AddOptions) => {
      const rule = {
        status: opts.status === "drop" ? "drop" : Number(opts.status),
        vault: opts.vault,
        operation: opts.operation,
        method: opts.method,
        name: opts.name,
        count: numberOf("--count", opts.count),
        fraction: numberOf("--fraction", opts.fraction),
        seed: numberOf("--seed", opts.seed),
        delayMs: numberOf("--delay-ms", opts.delayMs),
        retryAfter: numberOf("--retry-after", opts.retryAfter),
        expiresInSeconds: numberOf("--expires-in", opts.expiresIn),
      };
      const answer = await (await server(opts)).request("POST", "/lockbox/v1/faults", rule);
      if (answer.status !== 201) throw new Error(messageOf(answer));
      const added = answer.body as FaultRule;
      if (opts.json) console.log(JSON.stringify(added, null, 2));
      else console.log(describeRule(added));
    });

  faults
    .command("list")
    .description("list the rules, with how many times each fired and what is left")
    .addOption(dataDirOption())
    .addOption(portOption())
    .option("--json", "print the rules as JSON")
    .action(async (opts: { dataDir?: string; port?: string; json?: boolean }) => {
      const answer = await (await server(opts)).request("GET", "/lockbox/v1/faults");
      if (answer.status !== 200) throw new Error(messageOf(answer));
      const rules = (answer.body as { value: FaultRule[] }).value;
      if (opts.json) console.log(JSON.stringify(rules, null, 2));
      else if (rules.length === 0) console.error("lockbox: no fault rules");
      else for (const r of rules) console.log(describeRule(r));
    });

  faults
    .command("clear")
    .argument("[id]", "the rule to remove (all when omitted)")
    .description("remove every rule, or the one named")
    .addOption(dataDirOption())
    .addOption(portOption())
    .action(async (id: string | undefined, opts: { dataDir?: string; port?: string }) => {
      const path = id ? `/lockbox/v1/faults/${encodeURIComponent(id)}` : "/lockbox/v1/faults";
      const answer = await (await server(opts)).request("DELETE", path);
      if (answer.status !== 200 && answer.status !== 204) throw new Error(messageOf(answer));
      console.error(
        id ? `lockbox: removed fault rule ${id}` : `lockbox: removed ${(answer.body as { cleared: number }).cleared} fault rules`,
      );
    });
}
