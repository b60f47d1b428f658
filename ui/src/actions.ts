// How the bench words a return's actions (pure: tested under node).
import type { ActionState } from "./bindings/ActionState";

/// One action as the return panel lists it: "credit note 59.00 NZD confirmed (gift card
/// RH…)", or "refund 59.00 NZD (54.10 AUD paid back) confirmed" when the customer paid in
/// another currency than the shop's; the code only reaches supervisors and admins.
export function actionLine(a: ActionState): string {
  const what = a.kind.replace(/_/g, " ");
  const paid = a.paid ? ` (${a.paid} paid back)` : "";
  const amount = a.amount ? ` ${a.amount}${paid}` : "";
  const code = a.gift_card_code ? ` (gift card ${a.gift_card_code})` : "";
  return `${what}${amount} ${a.state}${code}`;
}
