import { PageHeader, Empty } from "../ui.tsx";

export function UpcomingPage() {
  return (
    <>
      <PageHeader title="upcoming" />
      <Empty title="Not built yet" />
    </>
  );
}
