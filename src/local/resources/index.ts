// The endpoint schemes that acquire and release a resource, by prefix.
import { ISCSI } from './iscsi';
import { LOOP } from './loop';
import { LVM_SNAPSHOT } from './lvm-snapshot';
import type { ResourceScheme } from './resource';

export const RESOURCE_SCHEMES: readonly ResourceScheme[] = [LVM_SNAPSHOT, LOOP, ISCSI];

/** The scheme of `endpoint` (`lvm+snapshot://...`, `loop://...`), or undefined for a plain endpoint. */
export function resourceSchemeOf(endpoint: string): ResourceScheme | undefined {
  return RESOURCE_SCHEMES.find((scheme) => endpoint.startsWith(scheme.prefix));
}
