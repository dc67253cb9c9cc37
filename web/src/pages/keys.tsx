import { PageHeader, Empty } from "../ui.tsx";

export function KeysPage({ vault }: { vault: string }) {
  return (
    <>
      <PageHeader title="keys" sub={vault} />
      <Empty title="Not built yet" />
    </>
  );
}

export function KeyPage({ vault, name }: { vault: string; name: string }) {
  return (
    <>
      <PageHeader title={name} sub={vault} />
      <Empty title="Not built yet" />
    </>
  );
}
