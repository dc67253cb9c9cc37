import { PageHeader, Empty } from "../ui.tsx";

export function AuditPage() {
  return (
    <>
      <PageHeader title="audit" />
      <Empty title="Not built yet" />
    </>
  );
}
