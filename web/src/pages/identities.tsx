import { PageHeader, Empty } from "../ui.tsx";

export function IdentitiesPage() {
  return (
    <>
      <PageHeader title="identities" />
      <Empty title="Not built yet" />
    </>
  );
}
