import { PageHeader, Empty } from "../ui.tsx";

export function AccessPage({ vault }: { vault: string }) {
  return (
    <>
      <PageHeader title="access" sub={vault} />
      <Empty title="Not built yet" />
    </>
  );
}
