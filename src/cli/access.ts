import type { Command } from "commander";
import { BUILT_IN_ROLES } from "../authz/roles.ts";
import { PERMISSIONS } from "../authz/operations.ts";
import { dataDirOption, inVault, vaultOption, withInstance } from "./common.ts";

export function accessCommands(program: Command): void {
  const role = program.command("role").description("Azure RBAC role assignments (vaults using RBAC, the default)");
  role
    .command("assign")
    .description("assign a built-in Key Vault role to an identity, on the vault or one secret or key")
    .addOption(vaultOption())
    .requiredOption("--assignee <name>", "the identity (name, object id or client id)")
    .requiredOption("--role <role>", `one of: ${Object.keys(BUILT_IN_ROLES).join(", ")}`)
    .option("--scope <scope>", "/ (the vault), /secrets/NAME or /keys/NAME", "/")
    .addOption(dataDirOption())
    .action(async (opts: { vault: string; assignee: string; role: string; scope: string; dataDir?: string }) => {
      await withInstance(opts.dataDir, async (i, audited) => {
        const vault = await inVault(i, opts.vault);
        const identity = await i.identities.find(opts.assignee);
        const a = await audited("RoleAssignmentCreate", { vault: vault.name, command: "role assign" }, () =>
          i.access.assignRole(vault, identity, opts.role, opts.scope),
        );
        console.log(`assigned ${a.role} to ${opts.assignee} on ${a.vault}${a.scope === "/" ? "" : a.scope} (assignment ${a.id})`);
      });
    });
  role
    .command("list")
    .description("list a vault's role assignments")
    .addOption(vaultOption())
    .option("--assignee <name>", "only this identity's")
    .option("--json", "print JSON")
    .addOption(dataDirOption())
    .action(async (opts: { vault: string; assignee?: string; json?: boolean; dataDir?: string }) => {
      await withInstance(opts.dataDir, async (i, audited) => {
        const principal = opts.assignee ? (await i.identities.find(opts.assignee)).id : undefined;
        const names = new Map((await i.identities.list()).map((x) => [x.id, x.name]));
        const vault = await inVault(i, opts.vault);
        const list = await audited("RoleAssignmentList", { vault: vault.name, command: "role list" }, () =>
          i.access.listRoles(vault, principal),
        );
        if (opts.json)
          console.log(
            JSON.stringify(
              list.map((a) => ({ ...a, assignee: names.get(a.principal) })),
              null,
              2,
            ),
          );
        else for (const a of list) console.log(`${a.id}\t${names.get(a.principal) ?? a.principal}\t${a.role}\t${a.scope}`);
      });
    });
  role
    .command("remove")
    .description("remove role assignments: by id, or an assignee's (optionally one role)")
    .addOption(vaultOption())
    .option("--id <id>", "the assignment id")
    .option("--assignee <name>", "the identity")
    .option("--role <role>", "only this role")
    .addOption(dataDirOption())
    .action(async (opts: { vault: string; id?: string; assignee?: string; role?: string; dataDir?: string }) => {
      if (!opts.id && !opts.assignee) throw new Error("give --id or --assignee");
      await withInstance(opts.dataDir, async (i, audited) => {
        const vault = await inVault(i, opts.vault);
        const principal = opts.assignee ? (await i.identities.find(opts.assignee)).id : undefined;
        const doomed = (await i.access.listRoles(vault, principal)).filter(
          (a) => (!opts.id || a.id === opts.id) && (!opts.role || a.role.toLowerCase() === opts.role.toLowerCase()),
        );
        if (doomed.length === 0) throw new Error("no such role assignment");
        for (const a of doomed)
          await audited("RoleAssignmentDelete", { vault: vault.name, command: "role remove" }, () => i.access.removeRole(vault, a.id));
        console.log(`removed ${doomed.length} role assignment(s)`);
      });
    });

  const policy = program.command("policy").description("access policies (vaults made with --access-policies)");
  policy
    .command("set")
    .description("set an identity's access policy on a vault (replaces its permissions)")
    .addOption(vaultOption())
    .requiredOption("--assignee <name>", "the identity (name, object id or client id)")
    .option("--secret-permissions <perms...>", `of: ${PERMISSIONS.secrets.join(", ")}, or all`, [])
    .option("--key-permissions <perms...>", `of: ${PERMISSIONS.keys.join(", ")}, or all`, [])
    .option("--certificate-permissions <perms...>", `of: ${PERMISSIONS.certificates.join(", ")}, or all`, [])
    .addOption(dataDirOption())
    .action(
      async (opts: {
        vault: string;
        assignee: string;
        secretPermissions: string[];
        keyPermissions: string[];
        certificatePermissions: string[];
        dataDir?: string;
      }) => {
        await withInstance(opts.dataDir, async (i, audited) => {
          const vault = await inVault(i, opts.vault);
          const identity = await i.identities.find(opts.assignee);
          const p = await audited("AccessPolicySet", { vault: vault.name, command: "policy set" }, () =>
            i.access.setPolicy(vault, identity, {
              secrets: opts.secretPermissions,
              keys: opts.keyPermissions,
              certificates: opts.certificatePermissions,
            }),
          );
          console.log(
            `access policy of ${opts.assignee} on ${p.vault}: secrets [${p.secrets.join(", ")}], keys [${p.keys.join(", ")}], certificates [${p.certificates.join(", ")}]`,
          );
        });
      },
    );
  policy
    .command("list")
    .description("list a vault's access policies")
    .addOption(vaultOption())
    .option("--json", "print JSON")
    .addOption(dataDirOption())
    .action(async (opts: { vault: string; json?: boolean; dataDir?: string }) => {
      await withInstance(opts.dataDir, async (i, audited) => {
        const names = new Map((await i.identities.list()).map((x) => [x.id, x.name]));
        const vault = await inVault(i, opts.vault);
        const list = await audited("AccessPolicyList", { vault: vault.name, command: "policy list" }, () => i.access.listPolicies(vault));
        if (opts.json)
          console.log(
            JSON.stringify(
              list.map((p) => ({ ...p, assignee: names.get(p.principal) })),
              null,
              2,
            ),
          );
        else
          for (const p of list)
            console.log(
              `${names.get(p.principal) ?? p.principal}\tsecrets: ${p.secrets.join(",")}\tkeys: ${p.keys.join(",")}\tcertificates: ${p.certificates.join(",")}`,
            );
      });
    });
  policy
    .command("remove")
    .description("remove an identity's access policy")
    .addOption(vaultOption())
    .requiredOption("--assignee <name>", "the identity")
    .addOption(dataDirOption())
    .action(async (opts: { vault: string; assignee: string; dataDir?: string }) => {
      await withInstance(opts.dataDir, async (i, audited) => {
        const vault = await inVault(i, opts.vault);
        const identity = await i.identities.find(opts.assignee);
        await audited("AccessPolicyDelete", { vault: vault.name, command: "policy remove" }, () => i.access.removePolicy(vault, identity));
        console.log(`removed the access policy of ${opts.assignee}`);
      });
    });
}
