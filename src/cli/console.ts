import type { Command } from "commander";
import { dataDirOption } from "./common.ts";
import { messageOf, runningServer } from "./server-api.ts";

/** `lockbox console`: a one-time sign-in link to the running server's web console. */
export function consoleCommands(program: Command): void {
  program
    .command("console")
    .description("print a one-time sign-in link to the web console of the running server (for the developer identity)")
    .addOption(dataDirOption())
    .option("--port <port>", "the server's port, when several run")
    .option("--identity <name>", "sign in as this identity instead (what it may see and do is what its roles allow)")
    .action(async (opts: { dataDir?: string; port?: string; identity?: string }) => {
      const server = await runningServer(opts.dataDir, opts.port);
      const link = await server.request("POST", "/lockbox/v1/console/links", opts.identity ? { identity: opts.identity } : {});
      if (link.status === 404) throw new Error(`the server on port ${server.port} serves no console (it was started with --no-console)`);
      if (link.status !== 201) throw new Error(messageOf(link));
      const { url, identity, expiresOn } = link.body as { url: string; identity: string; expiresOn: number };
      console.log(url);
      console.error(
        `lockbox: open it in a browser to sign in as ${identity}; it works once, until ${new Date(expiresOn * 1000).toLocaleTimeString()}`,
      );
    });
}
