import { PageHeader, Empty } from "../ui.tsx";

export function CertificatesPage({ vault }: { vault: string }) {
  return (
    <>
      <PageHeader title="certificates" sub={vault} />
      <Empty title="Not built yet" />
    </>
  );
}

export function CertificatePage({ vault, name }: { vault: string; name: string }) {
  return (
    <>
      <PageHeader title={name} sub={vault} />
      <Empty title="Not built yet" />
    </>
  );
}
