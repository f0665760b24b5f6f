import type { DeliveryStatus } from './types';

/** A sent copy's delivery list with `updates` merged in by recipient (case-insensitive); the order of first appearance stays. */
export function mergeDelivery(current: DeliveryStatus[], updates: DeliveryStatus[]): DeliveryStatus[] {
  const byRecipient = new Map(current.map((d) => [d.recipient.toLowerCase(), d]));
  for (const u of updates) byRecipient.set(u.recipient.toLowerCase(), u);
  return [...byRecipient.values()];
}
