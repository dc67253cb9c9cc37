import { PageHeader, Empty } from "../ui.tsx";
export function VaultsPage() {
  return <PageHeader title="Vaults" />;
}
export function VaultSettings({ vault }: { vault: string }) {
  return (
    <>
      <PageHeader title="Settings" sub={vault} />
      <Empty title="Not built yet" />
    </>
  );
}
