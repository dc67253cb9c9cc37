import { PageHeader, Empty } from "../ui.tsx";

export function EventsPage({ vault }: { vault: string }) {
  return (
    <>
      <PageHeader title="events" sub={vault} />
      <Empty title="Not built yet" />
    </>
  );
}
