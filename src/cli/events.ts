import { Option, type Command } from "commander";
import { dataDirOption, vaultOption, withInstance } from "./common.ts";

export function eventCommands(program: Command): void {
  const events = program.command("events").description("Key Vault events to webhooks (Event Grid or CloudEvents schema)");
  events
    .command("subscribe")
    .description("send a vault's events to a webhook; it gets Event Grid's validation handshake first")
    .addOption(vaultOption())
    .requiredOption("--endpoint <url>", "the webhook URL")
    .addOption(new Option("--schema <schema>", "envelope").choices(["eventgrid", "cloudevents"]).default("eventgrid"))
    .option("--types <types...>", "event types to send, e.g. KeyNewVersionCreated SecretNearExpiry (default: all)")
    .addOption(dataDirOption())
    .action(async (opts: { vault: string; endpoint: string; schema: string; types?: string[]; dataDir?: string }) => {
      await withInstance(opts.dataDir, async (i, audited) => {
        const s = await audited("EventSubscriptionCreate", { vault: opts.vault, command: "events subscribe" }, () =>
          i.subscriptions.subscribe({ vault: opts.vault, endpoint: opts.endpoint, schema: opts.schema, types: opts.types }),
        );
        console.log(`subscribed ${s.id}: ${s.vault} -> ${s.endpoint} (${s.schema}${s.types ? `; ${s.types.join(", ")}` : ""})`);
      });
    });
  events
    .command("list")
    .description("list event subscriptions")
    .option("--vault <name>", "only this vault's")
    .option("--json", "print JSON")
    .addOption(dataDirOption())
    .action(async (opts: { vault?: string; json?: boolean; dataDir?: string }) => {
      await withInstance(opts.dataDir, async (i, audited) => {
        const subs = await audited("EventSubscriptionList", { vault: opts.vault, command: "events list" }, () =>
          i.subscriptions.list(opts.vault),
        );
        if (opts.json) console.log(JSON.stringify(subs, null, 2));
        else
          for (const s of subs)
            console.log(
              `${s.id}\t${s.vault}\t${s.endpoint}\t${s.schema}\t${s.validated ? "validated" : "awaiting validation"}\t${s.types?.join(",") ?? "all"}`,
            );
      });
    });
  events
    .command("delete <id>")
    .description("delete an event subscription and what it still had to deliver")
    .addOption(dataDirOption())
    .action(async (id: string, opts: { dataDir?: string }) => {
      await withInstance(opts.dataDir, async (i, audited) => {
        await audited("EventSubscriptionDelete", { command: `events delete ${id}` }, () => i.subscriptions.delete(id));
        console.log(`deleted subscription ${id}`);
      });
    });
}
