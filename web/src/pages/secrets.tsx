import { PageHeader, Empty } from "../ui.tsx";
export function SecretsPage({ vault }: { vault: string }) {
  return <PageHeader title="Secrets" sub={vault} />;
}
export function SecretPage({ vault, name }: { vault: string; name: string }) {
  return (
    <>
      <PageHeader title={name} sub={vault} />
      <Empty title="Not built yet" />
    </>
  );
}
