import { defaultPolicyActions, type RotationPolicy } from "../vault/rotation.ts";
import type { SecretRotationPolicy } from "../vault/secrets.ts";

/** A stored rotation policy as the API shows it: Azure's shape, expiryTime among the attributes. */
export function policyWire(policy: RotationPolicy | undefined) {
  return {
    lifetimeActions: policy?.lifetimeActions ?? defaultPolicyActions(),
    attributes: policy
      ? { ...(policy.expiryTime ? { expiryTime: policy.expiryTime } : {}), created: policy.created, updated: policy.updated }
      : {},
  };
}

/** A secret rotation policy as the admin API and CLI show it, so that what is read can be written back. */
export const secretPolicyWire = (policy: SecretRotationPolicy | undefined) =>
  policy ? { ...policyWire(policy), generator: policy.generator, ...(policy.overlap ? { overlap: policy.overlap } : {}) } : {};
